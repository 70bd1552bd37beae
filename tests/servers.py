"""Real servers for tests: uvicorn processes or threads on free loopback ports.

Processes go through the package's one harness (``liftoff.server.processes``), as ``liftoff
up``, the benchmarks and ``make eval`` do; this module only adds the tests' defaults.
"""

from __future__ import annotations

import contextlib
import os
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

__all__ = ["REPO", "ServerProcess", "free_port", "serve_in_thread", "wait_until_up"]


def wait_until_up(url: str, *, timeout: float = 60.0, ready: bool = True) -> None:
    """Poll ``url`` until it answers (200 when ``ready``, anything otherwise); raises
    ``TimeoutError``."""
    wait_until_ready(url, timeout=timeout, any_status=not ready)


class ServerProcess(ServiceProcess):
    """``uvicorn APP`` in a subprocess with this environment plus ``env``, as a user runs it.

    Ready when ``health`` answers 200 (``/readyz``) or anything (other paths).
    """

    def __init__(
        self,
        app: str,
        env: Mapping[str, str],
        *,
        health: str = "/readyz",
        ready_timeout: float = 60.0,
    ) -> None:
        self.port = free_port()
        self.app = app
        super().__init__(
            uvicorn_command(app, port=self.port, options=("--log-level", "warning")),
            health_url=f"http://{LOOPBACK}:{self.port}{health}",
            name=app,
            env={**os.environ, **env},
            cwd=REPO,
            any_status=health != "/readyz",
            ready_timeout=ready_timeout,
        )


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
