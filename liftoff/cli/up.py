"""``liftoff up``: the local stack as processes, what ``make run`` starts.

Each service is a process on loopback, started through the package's one harness
(``liftoff.server.processes``). ``up`` waits until every one is ready, prints where they
are and how to call them, and stops them all on Ctrl-C, SIGTERM or a closed terminal (or
when one of them dies, so a half-running stack never lingers).

With gateway keys configured (``LIFTOFF_API_KEYS`` or ``LIFTOFF_API_KEYS_FILE``), ``up`` uses
the first one to talk to its own gateway and hands it to the services that call the gateway
(the evaluation service's default target, the retrieval service, the chat UI), server-side;
it never prints a key.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import FrameType

import httpx
import typer
from rich.console import Console
from rich.markup import escape

from liftoff.api.config import Settings, get_settings
from liftoff.server.processes import (
    LOOPBACK,
    ServiceExited,
    ServiceNotReady,
    ServiceProcess,
    stop_all,
    uvicorn_command,
)

console = Console(soft_wrap=True)  # commands stay on one line, ready to paste

READY_TIMEOUT_S = 180.0
STOP_GRACE_S = 10.0
KEY_VARIABLE = "LIFTOFF_API_KEY"  # what printed commands read a key from (never the key)


@dataclass(frozen=True)
class Service:
    """One process of the local stack: its command, port, health route and own settings.

    ``env`` is set for this service only, over this process's environment.
    """

    name: str
    command: list[str]
    port: int
    health: str = "/readyz"
    env: Mapping[str, str] = field(default_factory=dict)
    docs: str | None = "/docs"  # its OpenAPI page, if it has one

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"


def local_services(
    settings: Settings,
    *,
    api_port: int,
    evaluation_port: int,
    retrieval_port: int,
    ui_port: int,
    gateway_key: str | None,
) -> list[Service]:
    """The stack ``up`` starts, the gateway first (a new service is one more entry here)."""
    grace = ("--timeout-graceful-shutdown", str(int(STOP_GRACE_S)))

    def uvicorn(app: str, port: int) -> list[str]:
        return uvicorn_command(app, host=settings.host, port=port, options=grace)

    gateway = Service("generation API", uvicorn("liftoff.api.main:app", api_port), api_port)
    services = [gateway]
    if importlib.util.find_spec("liftoff.evaluation.main") is not None:
        env = _evaluation_target(gateway, gateway_key)
        app = uvicorn("liftoff.evaluation.main:app", evaluation_port)
        services.append(Service("evaluation", app, evaluation_port, env=env))
    if importlib.util.find_spec("liftoff.retrieval.main") is not None:
        # Embeds and answers through this stack's gateway, with its key.
        env = {"LIFTOFF_RAG_GATEWAY_URL": f"{gateway.url}/v1"}
        if gateway_key:
            env["LIFTOFF_RAG_GATEWAY_API_KEY"] = gateway_key
        app = uvicorn("liftoff.retrieval.main:app", retrieval_port)
        services.append(Service("retrieval", app, retrieval_port, env=env))
    if importlib.util.find_spec("chainlit") is not None:  # the `ui` extra
        # Chats with this gateway (its key stays server-side) and applies its exposure rule
        # to the address it is really bound to.
        env = {"LIFTOFF_UI_GATEWAY_URL": f"{gateway.url}/v1", "LIFTOFF_UI_HOST": settings.host}
        if gateway_key:
            env["LIFTOFF_UI_GATEWAY_API_KEY"] = gateway_key
        app = uvicorn("liftoff.ui.main:app", ui_port)
        services.append(Service("chat UI", app, ui_port, env=env, docs=None))
    return services


def _evaluation_target(gateway: Service, key: str | None) -> dict[str, str]:
    """The evaluation service scores this stack's gateway by default, with its key.

    A target the user chose (``LIFTOFF_EVAL_TARGET``) keeps the user's own key settings: the
    gateway's key only ever goes to the gateway. An empty key stops ``OPENAI_API_KEY`` (the
    ``openai`` backend's upstream key) from being sent to the gateway as a target key.
    """
    if "LIFTOFF_EVAL_TARGET" in os.environ:
        return {}
    return {"LIFTOFF_EVAL_TARGET": f"{gateway.url}/v1", "LIFTOFF_EVAL_TARGET_API_KEY": key or ""}


def gateway_key(settings: Settings) -> str | None:
    """The first configured gateway key (``LIFTOFF_API_KEYS``, then the keys file), if any."""
    if not settings.auth_required:
        return None
    try:
        keys = settings.load_api_keys()
    except OSError as exc:
        console.print(f"[red]cannot read LIFTOFF_API_KEYS_FILE: {escape(str(exc))}[/red]")
        raise typer.Exit(2) from exc
    return keys[0] if keys else None


def up(
    api_port: int | None = typer.Option(
        None, help="Port of the generation API (default PORT / LIFTOFF_PORT, 8000)."
    ),
    evaluation_port: int = typer.Option(
        8001, envvar="LIFTOFF_EVAL_PORT", help="Port of the evaluation service."
    ),
    retrieval_port: int = typer.Option(
        8002, envvar="LIFTOFF_RAG_PORT", help="Port of the retrieval service."
    ),
    ui_port: int = typer.Option(8003, envvar="LIFTOFF_UI_PORT", help="Port of the chat UI."),
) -> None:
    """Start the local stack (gateway with the configured backend, evaluation, retrieval,
    chat UI)."""
    settings = get_settings()
    key = gateway_key(settings)
    services = local_services(
        settings, api_port=api_port or settings.port, evaluation_port=evaluation_port,
        retrieval_port=retrieval_port, ui_port=ui_port, gateway_key=key,
    )  # fmt: skip
    # Text logs for a person at a terminal (JSON stays the default for deployments).
    shared = {"LIFTOFF_LOG_FORMAT": "text", **os.environ}
    processes = [
        ServiceProcess(
            service.command,
            health_url=service.url + service.health,
            name=service.name,
            env={**shared, **service.env},
            log="inherit",
            ready_timeout=READY_TIMEOUT_S,
            stop_timeout=STOP_GRACE_S + 5,
            poll_interval=0.5,  # each check is a line in the terminal's access log
        )
        for service in services
    ]

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    # The services lead process groups of their own: a terminal's Ctrl-C or hang-up reaches
    # only this process, which stops each of them once, gracefully.
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, stop)
    try:
        for process in processes:
            process.start()
        with console.status("Starting the local stack (the first start assembles the model)"):
            for process in processes:
                process.wait_ready()
        _print_welcome(services, key, settings)
        while all(process.poll() is None for process in processes):
            time.sleep(0.5)
        dead = [process.name for process in processes if process.poll() is not None]
        console.print(f"[red]stopped: {', '.join(dead)} exited[/red]; see its log above")
        raise typer.Exit(1)
    except (ServiceExited, ServiceNotReady) as exc:
        console.print(f"[red]{escape(str(exc))}[/red]; see its log above")
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        console.print("\nStopping...")
    finally:
        stop_all(processes)


def _print_welcome(services: list[Service], key: str | None, settings: Settings) -> None:
    api = services[0]
    model = _first_model(api, key)
    console.print()
    for service in services:
        docs = f"  (docs: {service.docs})" if service.docs else ""
        console.print(f"[green]ready[/green]  {service.name:<15} {service.url}{docs}")
    auth = ""
    if key is not None:
        console.print(
            f"\nThe gateway requires an API key: set {KEY_VARIABLE} to one of your keys "
            "(LIFTOFF_API_KEYS or LIFTOFF_API_KEYS_FILE; never printed here)."
        )
        auth = f' -H "Authorization: Bearer ${KEY_VARIABLE}"'
    console.print(
        f"\nTry it:\n  curl {api.url}/v1/chat/completions{auth} "
        "-H 'Content-Type: application/json' \\\n"
        f'    -d \'{{"model": "{model}", "max_tokens": 32, '
        '"messages": [{"role": "user", "content": "Hello"}]}\'',
        markup=False,
        highlight=False,
    )
    if settings.backend == "llamacpp" and not settings.model:
        console.print(
            f"\n[yellow]Note:[/yellow] {model} is Gemma 3 270M's base (pretrained) model: it "
            "continues text, it is not an assistant.\nIt proves the whole pipeline runs. For "
            "real answers point LIFTOFF_MODEL at another GGUF file, or use Ollama:\n"
            "  LIFTOFF_BACKEND=ollama LIFTOFF_MODEL=llama3.1:8b make run"
        )
    console.print("\nPress Ctrl-C to stop.")


def _first_model(api: Service, key: str | None) -> str:
    """The id the gateway lists first, asked with the gateway's own key when it has keys."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    response = httpx.get(f"{api.url}/v1/models", headers=headers, timeout=10, trust_env=False)
    listed = response.json().get("data") if response.status_code == 200 else None
    if not listed:
        console.print(
            f"[red]the gateway answered GET /v1/models with HTTP {response.status_code} and no "
            "model[/red]; see its log above"
        )
        raise typer.Exit(1)
    return str(listed[0]["id"])
