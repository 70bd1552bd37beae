"""Real servers for tests: uvicorn processes or threads on free loopback ports.

Processes go through the package's one harness (``liftoff.server.processes``), as ``liftoff
up``, the benchmarks and ``make eval`` do; this module only adds the tests' defaults.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import uvicorn

from liftoff.server.processes import (
    LOOPBACK,
    ServiceProcess,
    free_port,
    uvicorn_command,
    wait_until_ready,
)

REPO = Path(__file__).resolve().parents[1]

__all__ = [
    "REPO", "ServerProcess", "free_port", "outward_address", "serve_in_thread", "wait_until_up",
]  # fmt: skip


def wait_until_up(url: str, *, timeout: float = 60.0, ready: bool = True) -> None:
    """Poll ``url`` until it answers (200 when ``ready``, anything otherwise); raises
    ``TimeoutError``."""
    wait_until_ready(url, timeout=timeout, any_status=not ready)


class ServerProcess(ServiceProcess):
    """``uvicorn APP`` in a subprocess with this environment plus ``env``, as a user runs it.

    Ready when ``health`` answers 200 (``/readyz``) or anything (other paths). ``host`` is
    uvicorn's ``--host`` (the URL stays on loopback); ``open_files`` lowers the service's
    file-descriptor limit (``ulimit -n``) before it starts.
    """

    def __init__(
        self,
        app: str,
        env: Mapping[str, str],
        *,
        health: str = "/readyz",
        ready_timeout: float = 60.0,
        host: str = LOOPBACK,
        open_files: int | None = None,
    ) -> None:
        self.port = free_port()
        self.app = app
        command = uvicorn_command(
            app, port=self.port, host=host, options=("--log-level", "warning")
        )
        if open_files is not None:
            command = _with_open_files(open_files, command)
        super().__init__(
            command,
            health_url=f"http://{LOOPBACK}:{self.port}{health}",
            name=app,
            env={**os.environ, **env},
            cwd=REPO,
            any_status=health != "/readyz",
            ready_timeout=ready_timeout,
        )


def _with_open_files(limit: int, command: list[str]) -> list[str]:
    """``command`` run with ``ulimit -n LIMIT`` (soft and hard), through Python's exec."""
    program = (
        "import os, resource, sys; "
        f"resource.setrlimit(resource.RLIMIT_NOFILE, ({limit}, {limit})); "
        "os.execv(sys.argv[1], sys.argv[1:])"
    )
    return [sys.executable, "-c", program, *command]


@contextlib.contextmanager
def serve_in_thread(app: Any, *, ready_path: str = "/healthz") -> Iterator[str]:
    """Serve an ASGI app over real HTTP from a thread of this process; yields its URL.

    Tests use it when they must look inside the app (its backend) while driving it.
    """
    port = free_port()
    config = uvicorn.Config(app, host=LOOPBACK, port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://{LOOPBACK}:{port}"
    try:
        wait_until_up(url + ready_path, ready=False)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def outward_address() -> str:
    """This machine's own address on its default route (not loopback): what another
    machine would connect to. Found without sending a packet (a UDP socket's connect)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("203.0.113.1", 9))  # TEST-NET-3: routed like any address, never sent
        address: str = probe.getsockname()[0]
    if address.startswith("127."):
        raise RuntimeError("this machine has no address beyond loopback to test exposure with")
    return address
