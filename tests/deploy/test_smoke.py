"""scripts/smoke.py against real gateways: passing against `make run`'s stack, and failing
with a clear message (exit 1) when the gateway is absent, never ready, cannot generate, does
not serve the deployed model, refuses the credentials, or when Ollama runs the model on the
CPU (its /api/ps, or its log); exit 2 on bad usage."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy.tools import REPO, explain
from tests.fakes.ollama_server import FakeModel, FakeOllama
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
    assert [line.split()[:3] for line in lines[:4]] == [
        ["PASS", "GET", "/healthz"],
        ["PASS", "GET", "/readyz"],
        ["PASS", "GET", "/v1/models"],
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


def test_smoke_uses_the_deployed_model_and_fails_when_the_gateway_lacks_it(
    fake_ollama: FakeOllama,
) -> None:
    """Ollama lists every model it holds (a volume keeps earlier ones): the smoke test asks
    for the deployed one by name instead of trusting the first listed."""
    fake_ollama.add_model(FakeModel("llama3.2:1b", parameter_size="1.2B", size=1_321_098_329))
    with _gateway(fake_ollama) as gateway:
        chosen = smoke("--url", gateway.url, "--wait", "30", "--model", "llama3.2:1b")
        absent = smoke("--url", gateway.url, "--wait", "30", "--model", "llama3.1:70b")
    assert chosen.returncode == 0, explain(chosen)
    assert "PASS  GET /v1/models lists llama3.2:1b\n" in chosen.stdout
    assert [b["model"] for b in fake_ollama.bodies("/api/chat")] == ["llama3.2:1b"]
    assert absent.returncode == 1
    assert "FAIL  the gateway does not serve llama3.1:70b" in absent.stderr


@pytest.mark.parametrize(
    ("vram_fraction", "require", "code", "said"),
    [
        (1.0, True, 0, "PASS  Ollama GET /api/ps: llama3.1:8b 100% GPU (4.9 GB)"),
        (0.0, True, 1, "FAIL  Ollama's GET /api/ps: llama3.1:8b 100% CPU (4.9 GB). Ollama fell"),
        (0.52, True, 1, "FAIL  Ollama's GET /api/ps: llama3.1:8b 48%/52% CPU/GPU (4.9 GB)"),
        (0.0, False, 0, "PASS  Ollama GET /api/ps: llama3.1:8b 100% CPU (4.9 GB)"),
    ],
    ids=["on-gpu", "cpu-fallback", "partly-on-cpu", "reported-only"],
)
def test_smoke_reads_where_ollama_runs_the_model(
    fake_ollama: FakeOllama, vram_fraction: float, require: bool, code: int, said: str
) -> None:
    fake_ollama.vram_fraction = vram_fraction
    flags = ["--require-gpu"] if require else []
    with _gateway(fake_ollama) as gateway:
        result = smoke(
            "--url", gateway.url, "--wait", "30", "--model", "llama3.1:8b",
            "--ollama-url", fake_ollama.url, *flags,
        )  # fmt: skip
    assert result.returncode == code, explain(result)
    assert said in result.stdout + result.stderr
    if code:
        assert "NVIDIA driver" in result.stderr


GPU_LOG = (
    'time=2026-07-01T10:00:00.000Z level=INFO source=types.go:42 msg="inference compute" '
    'id=GPU-5f1c9a filter_id="" library=CUDA compute=8.9 name=CUDA0 description="NVIDIA L4" '
    "libdirs=ollama,cuda_v12 driver=12.2 pci_id=0000:00:03.0 type=discrete "
    'total="22.0 GiB" available="21.6 GiB"\n'
)
CPU_LOG = (
    'time=2026-07-01T10:00:00.000Z level=WARN source=cuda_compat.go:70 msg="NVIDIA driver too '
    'old" device="NVIDIA L4" compute=8.9 driver=535 required_driver="550 or newer"\n'
    'time=2026-07-01T10:00:00.000Z level=INFO source=types.go:60 msg="inference compute" '
    'id=cpu library=cpu compute="" name=cpu description=cpu libdirs=ollama driver="" '
    'pci_id="" type="" total="15.6 GiB" available="14.9 GiB"\n'
)


@pytest.mark.parametrize(
    ("log", "code", "said"),
    [
        (GPU_LOG, 0, "PASS  Ollama log: inference compute on CUDA"),
        (CPU_LOG, 1, "FAIL  Ollama's log: inference on library=cpu. Ollama fell back to the CPU"),
        ('level=INFO msg="Listening on [::]:11434"\n', 1, 'FAIL  no msg="inference compute"'),
    ],
    ids=["gpu", "cpu-fallback", "no-line"],
)
def test_smoke_reads_ollamas_log_where_ollama_has_no_port(
    fake_ollama: FakeOllama, tmp_path: Path, log: str, code: int, said: str
) -> None:
    """A Cloud Run sidecar has no port: the deploy reads its log from Cloud Logging."""
    path = tmp_path / "ollama.log"
    path.write_text(log)
    with _gateway(fake_ollama) as gateway:
        result = smoke(
            "--url", gateway.url, "--wait", "30", "--model", "llama3.1:8b",
            "--ollama-log", str(path), "--require-gpu",
        )  # fmt: skip
    assert result.returncode == code, explain(result)
    assert said in result.stdout + result.stderr


def test_smoke_runs_from_stdin_inside_a_container(fake_ollama: FakeOllama) -> None:
    """What docs/deploy.md runs in the Compose stack: `python - ARGS < scripts/smoke.py`."""
    script = (REPO / "scripts" / "smoke.py").read_text(encoding="utf-8")
    with _gateway(fake_ollama, LIFTOFF_API_KEYS="sk-smoke-stdin") as gateway:
        result = subprocess.run(
            [sys.executable, "-", "--url", gateway.url, "--api-key", "sk-smoke-stdin",
             "--model", "llama3.1:8b", "--ollama-url", fake_ollama.url, "--require-gpu",
             "--wait", "30"],
            input=script, capture_output=True, text=True, timeout=300, check=False, cwd="/",
        )  # fmt: skip
    assert result.returncode == 0, explain(result)
    assert result.stdout.count("PASS") == 5


def test_smoke_refuses_to_require_a_gpu_it_cannot_see() -> None:
    result = smoke("--require-gpu")
    assert result.returncode == 2
    assert "--require-gpu needs --ollama-url or --ollama-log" in result.stderr
