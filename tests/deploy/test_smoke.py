"""scripts/smoke.py against real gateways: passing against `make run`'s stack, and failing
with a clear message (exit 1) when the gateway is absent, never ready, cannot generate, or
refuses the credentials; exit 2 on bad usage."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy.tools import REPO, explain
from tests.fakes.ollama_server import FakeOllama
from tests.servers import ServerProcess, free_port, wait_until_up

SMOKE = [sys.executable, str(REPO / "scripts" / "smoke.py")]


def smoke(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SMOKE, *args], capture_output=True, text=True, timeout=300, check=False, cwd=REPO
    )


@pytest.fixture(scope="module")
def make_run(gguf_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`liftoff up` (what `make run` starts) on free ports, with the packaged model."""
    port = free_port()
    env = {"LIFTOFF_MODEL": str(gguf_path), "LIFTOFF_BACKEND": "llamacpp"}
    command = [
        sys.executable, "-m", "liftoff", "up",
        "--api-port", str(port), "--evaluation-port", str(free_port()),
    ]  # fmt: skip
    with (tmp_path_factory.mktemp("make-run") / "liftoff-up.log").open("wb") as log:
        process = subprocess.Popen(
            command, env={**os.environ, **env}, cwd=REPO, stdout=log, stderr=log
        )
        try:
            wait_until_up(f"http://127.0.0.1:{port}/readyz", timeout=180)
            yield f"http://127.0.0.1:{port}"
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.mark.model
def test_smoke_passes_against_make_run(make_run: str) -> None:
    result = smoke("--url", make_run, "--wait", "30")
    assert result.returncode == 0, explain(result)
    lines = result.stdout.splitlines()
    assert [line.split()[:3] for line in lines[:3]] == [
        ["PASS", "GET", "/healthz"],
        ["PASS", "GET", "/readyz"],
        ["PASS", "POST", "/v1/chat/completions"],
    ]
    assert lines[-1] == f"smoke test passed against {make_run}"


def test_smoke_fails_when_nothing_answers() -> None:
    result = smoke("--url", f"http://127.0.0.1:{free_port()}", "--wait", "1")
    assert result.returncode == 1
    assert "FAIL  GET /healthz not 200 after 1 s; last: no answer" in result.stderr
    assert "smoke test FAILED" in result.stderr


def _gateway(fake: FakeOllama, **env: str) -> ServerProcess:
    """The gateway with the Ollama backend on the fake (fast: no model to load)."""
    settings = {
        "LIFTOFF_BACKEND": "ollama",
        "OLLAMA_HOST": fake.url,
        "LIFTOFF_OLLAMA_PULL": "false",
        **env,
    }
    return ServerProcess("liftoff.api.main:app", settings, health="/healthz")


def test_smoke_fails_when_the_gateway_never_becomes_ready(fake_ollama_down: FakeOllama) -> None:
    with _gateway(fake_ollama_down) as gateway:
        result = smoke("--url", gateway.url, "--wait", "2")
    assert result.returncode == 1
    assert "FAIL  GET /readyz not 200 after 2 s; last: HTTP 503" in result.stderr


def test_smoke_fails_when_generation_fails(fake_ollama: FakeOllama) -> None:
    fake_ollama.http_errors["/api/chat"] = (500, "model runner has unexpectedly stopped")
    with _gateway(fake_ollama) as gateway:
        result = smoke("--url", gateway.url, "--wait", "30")
    assert result.returncode == 1, explain(result)
    assert "PASS  GET /readyz" in result.stdout
    assert "FAIL  POST /v1/chat/completions answered HTTP 5" in result.stderr


def test_smoke_passes_with_the_right_api_key_and_fails_without(fake_ollama: FakeOllama) -> None:
    with _gateway(fake_ollama, LIFTOFF_API_KEYS="sk-smoke-right") as gateway:
        right = smoke("--url", gateway.url, "--api-key", "sk-smoke-right", "--wait", "30")
        wrong = smoke("--url", gateway.url, "--api-key", "sk-smoke-wrong", "--wait", "30")
    assert right.returncode == 0, explain(right)
    assert wrong.returncode == 1 and "HTTP 401" in wrong.stderr
    assert "sk-smoke-wrong" not in wrong.stdout + wrong.stderr  # never echoes credentials


def test_smoke_rejects_a_url_that_is_not_http() -> None:
    result = smoke("--url", "ftp://example.com")
    assert result.returncode == 2 and "--url must start with http" in result.stderr
