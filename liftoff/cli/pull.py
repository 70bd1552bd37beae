"""``liftoff pull MODEL``: download a model into Ollama, with a progress bar.

The gateway never exposes Ollama's pull endpoint; this command talks to Ollama directly,
from the machine (or container) that runs it.
"""

from __future__ import annotations

import httpx
import ollama
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from liftoff.api.config import get_settings

console = Console(stderr=True)


def pull(
    model: str = typer.Argument(..., help="Ollama model tag, e.g. llama3.1:8b"),
    host: str | None = typer.Option(None, help="Ollama's URL (default OLLAMA_HOST)."),
) -> None:
    """Pull MODEL into Ollama, showing progress per layer."""
    url = host or get_settings().ollama_host
    client = ollama.Client(host=url)
    try:
        _pull_with_progress(client, model)
    except ollama.ResponseError as exc:
        console.print(f"[red]pull failed:[/red] {model}: {exc.error}")
        raise typer.Exit(1) from exc
    except (ConnectionError, httpx.TransportError) as exc:  # the client raises either
        console.print(f"[red]cannot reach Ollama[/red] at {url}: {exc}")
        console.print("Start it (`ollama serve`, or `docker compose --profile gpu up ollama`).")
        raise typer.Exit(1) from exc
    console.print(f"[green]pulled[/green] {model}")


def _pull_with_progress(client: ollama.Client, model: str) -> None:
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    tasks: dict[str, TaskID] = {}
    with Progress(*columns, console=console) as progress:
        for update in client.pull(model, stream=True):
            if update.digest and update.total:
                if update.digest not in tasks:
                    label = f"layer {update.digest.removeprefix('sha256:')[:12]}"
                    tasks[update.digest] = progress.add_task(label, total=update.total)
                progress.update(tasks[update.digest], completed=update.completed or 0)
            elif update.status:
                progress.console.print(update.status)
