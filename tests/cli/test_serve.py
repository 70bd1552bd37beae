"""``liftoff api``: the gateway in the foreground, on the port Cloud Run or Vertex gives it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.servers import REPO, free_port, wait_until_up


@pytest.mark.parametrize("port_variable", ["PORT", "AIP_HTTP_PORT"])
def test_api_listens_on_the_platform_port(gguf_path: Path, port_variable: str) -> None:
    port = free_port()
    env = {**os.environ, port_variable: str(port), "LIFTOFF_MODEL": str(gguf_path)}
    process = subprocess.Popen(
        [sys.executable, "-m", "liftoff", "api"], cwd=REPO, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_until_up(f"http://127.0.0.1:{port}/readyz", timeout=60)
        models = httpx.get(f"http://127.0.0.1:{port}/v1/models").json()
        assert models["data"][0]["id"] == "gemma-3-270m-q4_k_m"
    finally:
        process.send_signal(signal.SIGINT)
        _, log = process.communicate(timeout=30)
    assert process.returncode == 0
    assert "serving gemma-3-270m-q4_k_m, all-minilm-l6-v2 via the llamacpp backend" in log
