"""``liftoff up``: the local stack as processes, what ``make run`` starts.

Each service is a uvicorn process on loopback. ``up`` waits until every one is ready,
prints where they are and how to call them, and stops them all on Ctrl-C (or when one
of them dies, so a half-running stack never lingers).
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from types import FrameType

import httpx
import typer
from rich.console import Console

from liftoff.api.config import get_settings
from liftoff.server.connections import UVICORN_OPTIONS

console = Console(soft_wrap=True)  # commands stay on one line, ready to paste

READY_TIMEOUT_S = 180.0
STOP_GRACE_S = 10.0


@dataclass(frozen=True)
class Service:
    name: str
    app: str
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def local_services(api_port: int, evaluation_port: int) -> list[Service]:
    services = [Service("generation API", "liftoff.api.main:app", api_port)]
    if importlib.util.find_spec("liftoff.evaluation.main") is not None:
        services.append(Service("evaluation", "liftoff.evaluation.main:app", evaluation_port))
    return services


def up(
    api_port: int = typer.Option(8000, help="Port of the generation API."),
    evaluation_port: int = typer.Option(8001, help="Port of the evaluation service."),
) -> None:
    """Start the local stack (gateway with the configured backend, evaluation service)."""
    settings = get_settings()
    services = local_services(api_port, evaluation_port)
    # The evaluation service scores generations from this stack's gateway by default.
    # Text logs for a person at a terminal (JSON stays the default for deployments).
    env = {
        "LIFTOFF_EVAL_TARGET": f"http://127.0.0.1:{api_port}/v1",
        "LIFTOFF_LOG_FORMAT": "text",
        **os.environ,
    }
    processes = [(service, _spawn(service, settings.host, env)) for service in services]

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        with console.status("Starting the local stack (the first start assembles the model)"):
            for service, process in processes:
                _wait_ready(service, process)
        _print_welcome(services)
        while all(process.poll() is None for _, process in processes):
            time.sleep(0.5)
        dead = [service.name for service, process in processes if process.poll() is not None]
        console.print(f"[red]stopped: {', '.join(dead)} exited[/red]; see its log above")
        raise typer.Exit(1)
    except KeyboardInterrupt:
        console.print("\nStopping...")
    finally:
        _stop_all([process for _, process in processes])


def _spawn(service: Service, host: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    command = [
        sys.executable, "-m", "uvicorn", service.app,
        "--host", host, "--port", str(service.port),
        "--timeout-graceful-shutdown", str(int(STOP_GRACE_S)), *UVICORN_OPTIONS,
    ]  # fmt: skip
    return subprocess.Popen(command, env=env)


def _wait_ready(service: Service, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            console.print(f"[red]{service.name} exited with code {process.returncode}[/red]")
            raise typer.Exit(1)
        try:
            if httpx.get(f"{service.url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass  # not listening yet
        time.sleep(0.3)
    console.print(f"[red]{service.name} was not ready after {READY_TIMEOUT_S:.0f} s[/red]")
    raise typer.Exit(1)


def _print_welcome(services: list[Service]) -> None:
    api = services[0]
    model = httpx.get(f"{api.url}/v1/models", timeout=5).json()["data"][0]["id"]
    console.print()
    for service in services:
        console.print(f"[green]ready[/green]  {service.name:<15} {service.url}  (docs: /docs)")
    console.print(
        f"\nTry it:\n  curl {api.url}/v1/chat/completions -H 'Content-Type: application/json' \\\n"
        f'    -d \'{{"model": "{model}", "messages": [{{"role": "user", "content": "Hello"}}]}}\''
    )
    settings = get_settings()
    if settings.backend == "llamacpp" and not settings.model:
        console.print(
            f"\n[yellow]Note:[/yellow] {model} is Gemma 3 270M's base (pretrained) model: it "
            "continues text, it is not an assistant.\nIt proves the whole pipeline runs. For "
            "real answers point LIFTOFF_MODEL at another GGUF file, or use Ollama:\n"
            "  LIFTOFF_BACKEND=ollama LIFTOFF_MODEL=llama3.1:8b make run"
        )
    console.print("\nPress Ctrl-C to stop.")


def _stop_all(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
    deadline = time.monotonic() + STOP_GRACE_S + 2
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
