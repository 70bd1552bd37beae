"""Where the deploy files and their validators are, and how tests run them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SCHEMAS = Path(__file__).parent / "schemas"

DOCKERFILES = sorted(REPO.glob("images/*/Dockerfile"))
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
OVERLAYS = sorted(path.name for path in (REPO / "k8s" / "overlays").iterdir() if path.is_dir())
COMPOSE_FILE = REPO / "docker-compose.yml"
DEVCONTAINER = REPO / ".devcontainer"


def validator(name: str) -> str:
    """Path of a validator installed by `uv sync --all-groups` (the `validate` group).

    A missing validator fails the test: these checks must never pass by not running.
    """
    path = BIN / name
    if not path.exists():
        found = shutil.which(name)
        if found is None:
            pytest.fail(f"{name} is not installed: run `make setup` (uv sync --all-groups)")
        return found
    return str(path)


def uv() -> list[str]:
    """The uv the Makefile installs (python3 -m uv), or one on PATH."""
    if os.environ.get("UV"):
        return [os.environ["UV"]]
    found = shutil.which("uv")
    if found:
        return [found]
    probe = subprocess.run(["python3", "-m", "uv", "--version"], capture_output=True, check=False)
    if probe.returncode == 0:
        return ["python3", "-m", "uv"]
    pytest.fail("uv is not installed: run `make setup`")


def run(command: list[str], cwd: Path = REPO, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run a validator (from the repository root by default), capturing its output as text."""
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False, **kwargs)


def explain(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
