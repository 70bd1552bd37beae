"""Containers without Docker: an image's command run as a process with the environment
Compose would give it, service host names mapped to loopback and container ports to free
ports. What cannot run here (Ollama) is replaced by the caller."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from liftoff.server.processes import ServiceExited, ServiceNotReady, ServiceProcess
from tests.deploy import compose, dockerfiles
from tests.deploy.tools import BIN

CONTAINER_PATHS = {"/app/.venv/bin": str(BIN)}


class PortMap:
    """(compose host name, container port) -> free loopback port."""

    def __init__(self) -> None:
        self.ports: dict[tuple[str, int], int] = {}

    def assign(self, service: compose.Service, container_port: int, host_port: int) -> None:
        for alias in service.aliases:
            self.ports[(alias, container_port)] = host_port

    def rewrite(self, value: str) -> str:
        def replace(match: Any) -> str:
            host, port = match.group(1), int(match.group(2))
            if (host, port) in self.ports:
                return match.group(0).replace(
                    f"{host}:{port}", f"127.0.0.1:{self.ports[host, port]}"
                )
            return str(match.group(0))

        return compose.URL.sub(replace, value)


def container_env(
    service: compose.Service,
    ports: PortMap,
    *,
    own_port: int | None = None,
    paths: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The image's ENV, then the service's `environment`, mapped onto this machine."""
    image = service.dockerfile
    env = {**(image.env() if image else {}), **service.environment}
    mapped: dict[str, str] = {}
    for key, value in env.items():
        value = ports.rewrite(value)
        if value == "0.0.0.0":
            value = "127.0.0.1"  # loopback only on a build machine
        for container_path, local in {**CONTAINER_PATHS, **(paths or {})}.items():
            value = value.replace(container_path, local)
        mapped[key] = value.replace("$PATH", os.environ["PATH"])
    if own_port is not None:
        for key in ("LIFTOFF_PORT", "UVICORN_PORT"):
            if key in mapped:
                mapped[key] = str(own_port)
    return {**os.environ, **mapped}


def command(service: compose.Service) -> list[str]:
    """The service's `command`, else its image's CMD, with programs from this environment."""
    image = service.dockerfile
    argv = [str(arg) for arg in service.spec.get("command") or (image.cmd() if image else [])]
    program = BIN / argv[0]
    return [str(program) if program.exists() else argv[0], *argv[1:]]


def healthcheck(
    service: compose.Service, env: Mapping[str, str]
) -> subprocess.CompletedProcess[str]:
    """Runs the service's Compose healthcheck (`CMD ...`) on this machine."""
    kind, *argv = service.spec["healthcheck"]["test"]
    assert kind == "CMD"
    return run_once(argv, env)


def image_healthcheck(
    image: dockerfiles.Dockerfile, env: Mapping[str, str]
) -> subprocess.CompletedProcess[str]:
    """Runs the image's HEALTHCHECK CMD (exec form) on this machine."""
    (instruction,) = image.final.all("HEALTHCHECK")
    return run_once(json.loads(instruction.split(" CMD ", 1)[1]), env)


def run_once(argv: list[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    program = BIN / argv[0]
    argv = [str(program) if program.exists() else argv[0], *argv[1:]]
    return subprocess.run(
        argv, env=dict(env), capture_output=True, text=True, timeout=60, check=False
    )


class Container:
    """A long-running service process (the package's harness); its output goes to a file,
    shown on failure."""

    def __init__(self, argv: list[str], env: Mapping[str, str], cwd: Path) -> None:
        self.argv = argv
        self.env = dict(env)
        self.cwd = cwd
        self.service: ServiceProcess | None = None

    def start(self, ready_url: str, timeout: float = 120) -> None:
        """Starts the process and waits for ``ready_url`` to answer 200; fails at once
        (with the process's output) if it exits first."""
        self.service = ServiceProcess(
            self.argv, health_url=ready_url, env=self.env, cwd=self.cwd, ready_timeout=timeout
        )
        try:
            self.service.__enter__()
        except (ServiceExited, ServiceNotReady) as exc:
            raise AssertionError(str(exc)) from exc

    def output(self) -> str:
        return self.service.output()[-4000:] if self.service is not None else ""

    def stop(self) -> None:
        if self.service is not None:
            self.service.stop()
