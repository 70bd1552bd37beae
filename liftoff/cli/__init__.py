"""The ``liftoff`` command: a thin layer over the gateway, evaluation and retrieval services."""

from __future__ import annotations

import sys

import typer

from liftoff.cli import doctor, pull, rag, serve, tunnel, up
from liftoff.cli import eval as eval_cli
from liftoff.server.settings import SettingsError

app = typer.Typer(
    name="liftoff",
    help="Develop, evaluate and ship an LLM application from a laptop to the cloud.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("up")(up.up)
app.command("api")(serve.api)
app.command("pull")(pull.pull)
app.command("doctor")(doctor.doctor)
app.command("tunnel")(tunnel.tunnel)
app.add_typer(eval_cli.app, name="eval")
app.add_typer(rag.app, name="rag")


def main() -> None:
    try:
        app()
    except SettingsError as exc:
        # One line per variable at fault, never a value (liftoff.server.settings).
        print(f"liftoff: invalid settings:\n{exc}", file=sys.stderr)
        sys.exit(2)
