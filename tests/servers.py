"""Real servers for tests: uvicorn processes or threads on free loopback ports."""

from __future__ import annotations

import contextlib
import os
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from liftoff.server.connections import UVICORN_OPTIONS

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until_up(url: str, *, timeout: float = 60.0, ready: bool = True) -> None:
    """Poll ``url`` until it answers (200 when ``ready``, anything otherwise)."""
    deadline = time.monotonic() + timeout
    last: Exception | str = "no answer"
    while time.monotonic() < deadline:
        try:
            response = httpx.get(url, timeout=2)
            if not ready or response.status_code == 200:
                return
            last = f"{response.status_code} {response.text}"
        except httpx.TransportError as exc:
            last = exc
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not come up in {timeout} s: {last}")


class ServerProcess:
    """``uvicorn APP`` in a subprocess with the given environment, like a user would run it.

    ``host`` is uvicorn's ``--host`` (the URL stays on loopback); ``open_files`` lowers the
    process's file-descriptor limit (``ulimit -n``) before it starts.
    """

    def __init__(
        self,
        app: str,
        env: dict[str, str],
        *,
        health: str = "/readyz",
        host: str = "127.0.0.1",
        open_files: int | None = None,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = app
        self.env = {**os.environ, **env}
        self.health = health
        self.host = host
        self.open_files = open_files
        self.process: subprocess.Popen[bytes] | None = None
        # A file, not a pipe: a chatty server must never block on a full pipe.
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in __exit__

    def __enter__(self) -> ServerProcess:
        command = [
            sys.executable, "-m", "uvicorn", self.app,
            "--host", self.host, "--port", str(self.port), "--log-level", "warning",
            *UVICORN_OPTIONS,  # as every Liftoff entry point serves
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command, cwd=REPO, env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
            preexec_fn=self._limit_open_files if self.open_files else None,
        )  # fmt: skip
        try:
            wait_until_up(self.url + self.health, ready=self.health == "/readyz")
        except TimeoutError:
            self.__exit__()
            raise
        return self

    def _limit_open_files(self) -> None:
        assert self.open_files is not None
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.open_files, self.open_files))

    def output(self) -> str:
        """Everything the server has printed so far."""
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def __exit__(self, *exc_info: Any) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


@contextlib.contextmanager
def serve_in_thread(app: Any, *, ready_path: str = "/healthz") -> Iterator[str]:
    """Serve an ASGI app over real HTTP from a thread of this process; yields its URL.

    Tests use it when they must look inside the app (its backend) while driving it.
    """
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
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
