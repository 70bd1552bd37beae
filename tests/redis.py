"""A real Redis for the tests: Debian's ``redis-server``, started on a free loopback port in
a temporary directory (nothing persisted) and stopped at the end.

As root on Debian, ``python -m tests.redis`` installs the package with apt-get (``make test``
runs it, as ``make`` provisions WordNet and Chromium); elsewhere it names the command to run.
A pytest plugin (``tests/conftest.py`` loads it): tests ask for ``redis_server``, one fresh
server each, which they may stop and start again on the same port (Redis going away).

    $ python -m tests.redis
    redis-server ready: /usr/bin/redis-server (Redis server v=7.0.15 ...)
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

DEBIAN_PACKAGE = "redis-server"
APT_INSTALL = f"apt-get install -y --no-install-recommends {DEBIAN_PACKAGE}"


class RedisUnavailable(RuntimeError):
    """No redis-server is installed, and none could be."""


def ensure_redis_server(*, install: bool | None = None) -> str:
    """The path of ``redis-server``, installing Debian's package first when allowed (root)."""
    found = shutil.which("redis-server")
    if found is not None:
        return found
    allowed = install if install is not None else hasattr(os, "geteuid") and os.geteuid() == 0
    apt = shutil.which("apt-get")
    if allowed and apt is not None:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        command = [apt, "install", "-y", "--no-install-recommends", DEBIAN_PACKAGE]
        print(f"installing {DEBIAN_PACKAGE} with apt-get", file=sys.stderr)
        if subprocess.run(command, env=env, check=False).returncode != 0:
            subprocess.run([apt, "update"], env=env, check=False)
            subprocess.run(command, env=env, check=False)
        found = shutil.which("redis-server")
        if found is not None:
            return found
    raise RedisUnavailable(f"redis-server is not installed: run `sudo {APT_INSTALL}` (Debian)")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class RedisServer:
    """``redis-server`` on a loopback port, in ``directory``; :meth:`stop` and :meth:`start`
    again keep the port, so clients see the same server go away and come back (empty)."""

    def __init__(self, directory: Path) -> None:
        self.binary = ensure_redis_server()
        self.directory = directory
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [
            self.binary, "--bind", "127.0.0.1", "--port", str(self.port),
            "--dir", str(self.directory), "--save", "", "--appendonly", "no",
            "--logfile", str(self.directory / "redis.log"),
        ]  # fmt: skip
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while not self._answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                log = (self.directory / "redis.log").read_text(errors="replace")
                self.stop()
                raise RedisUnavailable(f"redis-server did not start on {self.port}:\n{log}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A fresh, running Redis for one test; stopped (and its directory removed) after it."""
    with tempfile.TemporaryDirectory(prefix="redis-") as directory:
        server = RedisServer(Path(directory))
        server.start()
        try:
            yield server
        finally:
            server.stop()


if __name__ == "__main__":
    try:
        path = ensure_redis_server()
    except RedisUnavailable as exc:
        sys.exit(str(exc))
    version = subprocess.run([path, "--version"], capture_output=True, text=True, check=False)
    print(f"redis-server ready: {path} ({version.stdout.strip()})")
