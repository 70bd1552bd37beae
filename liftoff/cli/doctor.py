"""``liftoff doctor``: is this machine ready to run the stack? One line per check, with a fix."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

import typer
from rich.console import Console

from liftoff.api.backends import create_backend
from liftoff.api.config import Settings
from liftoff.api.errors import ServiceError
from liftoff.server.settings import SettingsError, load_settings

console = Console()


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True


def doctor() -> None:
    """Check settings, backend, model, GPU, data files and ports; exit 1 if one fails."""
    try:
        settings = load_settings(Settings)
    except SettingsError as exc:  # names the variables, never a value
        problems = str(exc).replace("\n", "; ")
        _print(Check("settings", False, problems, "fix the variables named above"))
        raise typer.Exit(1) from None
    checks: list[Callable[[Settings], Check]] = [
        check_settings,
        check_backend,
        check_gpu,
        check_wordnet,
        check_port,
    ]
    results = [check(settings) for check in checks]
    for result in results:
        _print(result)
    if any(not r.ok and r.required for r in results):
        raise typer.Exit(1)


def check_settings(settings: Settings) -> Check:
    return Check("settings", True, f"backend {settings.backend}, model {_model(settings)}")


def check_backend(settings: Settings) -> Check:
    """The backend answers and the model is loaded (the embedded one is loaded for real)."""
    name = f"{settings.backend} backend"
    try:
        backend = create_backend(settings)
    except (FileNotFoundError, ValueError) as exc:
        return Check(
            name, False, str(exc), "set LIFTOFF_MODEL (or LIFTOFF_EMBEDDING_MODEL) to a GGUF file"
        )

    async def probe() -> None:
        try:
            if settings.backend == "llamacpp":
                await backend.start()  # loading the GGUF for real is the check
            await backend.check_model_present()
        finally:
            await backend.close()

    try:
        asyncio.run(probe())
    except ServiceError as exc:
        return Check(name, False, exc.message, _backend_fix(settings))
    return Check(name, True, f"ready; model {_model(settings)} present")


def check_gpu(settings: Settings) -> Check:
    needed = settings.backend == "ollama"
    if shutil.which("nvidia-smi") is None:
        return Check(
            "GPU",
            False,
            "no NVIDIA GPU visible (nvidia-smi not found)",
            "fine for the embedded backend; Llama 3.1 8B wants a GPU: install the NVIDIA "
            "driver and the NVIDIA Container Toolkit, or use Cloud Run with an L4",
            required=False,
        )
    listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, check=False)
    gpus = [line for line in listing.stdout.splitlines() if line.startswith("GPU")]
    if listing.returncode != 0 or not gpus:
        return Check("GPU", False, "nvidia-smi found no GPU", "check the driver", required=needed)
    return Check("GPU", True, "; ".join(gpus))


def check_wordnet(settings: Settings) -> Check:
    try:
        from liftoff.evaluation.wordnet import default_data_dir, has_wordnet
    except ImportError:
        return Check(
            "WordNet (METEOR)", False, "evaluation extra not installed",
            "uv sync --extra evaluation", required=False,
        )  # fmt: skip
    location = default_data_dir()
    if not has_wordnet(location):
        return Check(
            "WordNet (METEOR)", False, f"WordNet 3.0 not found in {location}",
            "python -m liftoff.evaluation.wordnet", required=False,
        )  # fmt: skip
    return Check("WordNet (METEOR)", True, str(location))


def check_port(settings: Settings) -> Check:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((settings.host, settings.port))
        except OSError:
            return Check(
                f"port {settings.port}", False, "already in use",
                "stop what listens there, or set PORT", required=False,
            )  # fmt: skip
    return Check(f"port {settings.port}", True, f"free on {settings.host}")


def _model(settings: Settings) -> str:
    if settings.backend == "ollama":
        return settings.ollama_model
    return settings.model or "packaged Gemma 3 270M"


def _backend_fix(settings: Settings) -> str:
    if settings.backend == "ollama":
        return (
            f"start Ollama at {settings.ollama_host} (`ollama serve`) and "
            f"`liftoff pull {settings.ollama_model}`"
        )
    if settings.backend == "openai":
        return "check OPENAI_BASE_URL, OPENAI_API_KEY and LIFTOFF_MODEL"
    if settings.backend == "gemini" and settings.gemini_vertexai:
        return (
            "check Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS or "
            "`gcloud auth application-default login`), GOOGLE_CLOUD_PROJECT, "
            "GOOGLE_CLOUD_LOCATION and LIFTOFF_MODEL"
        )
    if settings.backend == "gemini":
        return "check GEMINI_API_KEY, LIFTOFF_MODEL and LIFTOFF_EMBEDDING_MODEL"
    return "check LIFTOFF_MODEL points at a loadable GGUF file"


def _print(check: Check) -> None:
    if check.ok:
        mark = "[green]PASS[/green]"
    else:
        mark = "[red]FAIL[/red]" if check.required else "[yellow]WARN[/yellow]"
    console.print(f"{mark}  {check.name}: {check.detail}")
    if not check.ok and check.fix:
        console.print(f"      fix: {check.fix}")
