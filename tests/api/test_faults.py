"""The gateway under backend failures: down at start, dying mid-stream, too slow, and
clients that leave in the middle of a generation."""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from liftoff.api.app import create_app
from liftoff.api.backends.llamacpp import LlamaCppBackend
from liftoff.api.config import Settings
from tests.fakes.ollama_server import DEFAULT_MODEL, FakeOllama
from tests.llama_server import LlamaServer
from tests.servers import ServerProcess, free_port, serve_in_thread


@pytest.fixture
def silent_backend() -> Iterator[str]:
    """A backend that accepts connections and never answers: the slowest possible server."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/v1"


def _openai_env(base_url: str, **extra: str) -> dict[str, str]:
    return {"LIFTOFF_BACKEND": "openai", "OPENAI_BASE_URL": base_url, "LIFTOFF_MODEL": "m",
            **extra}  # fmt: skip


def test_backend_down_at_start_means_not_ready_and_503_with_retry_after() -> None:
    closed = f"http://127.0.0.1:{free_port()}/v1"
    with ServerProcess("liftoff.api.main:app", _openai_env(closed), health="/healthz") as gateway:
        ready = httpx.get(f"{gateway.url}/readyz")
        assert ready.status_code == 503
        assert ready.headers["Retry-After"] == "5"
        assert "cannot reach the OpenAI-compatible server" in ready.json()["error"]
        chat = httpx.post(
            f"{gateway.url}/v1/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
        )
        assert chat.status_code == 503
        assert chat.headers["Retry-After"] == "5"
        assert chat.json()["error"]["type"] == "backend_unavailable"
        assert httpx.get(f"{gateway.url}/healthz").status_code == 200


def test_backend_dying_mid_stream_ends_the_stream_with_an_error_event(gguf_path: Path) -> None:
    with (
        LlamaServer(str(gguf_path)) as llama,
        ServerProcess(
            "liftoff.api.main:app", _openai_env(llama.url, LIFTOFF_MODEL=str(gguf_path))
        ) as gw,
    ):
        body = {"model": str(gguf_path), "messages": [{"role": "user", "content": "Tell a tale"}],
                "max_tokens": 600, "temperature": 1.0, "stream": True}  # fmt: skip
        with httpx.stream("POST", f"{gw.url}/v1/chat/completions", json=body, timeout=30) as r:
            assert r.status_code == 200
            events: list[str] = []
            for line in r.iter_lines():
                if line.startswith("data: "):
                    events.append(line.removeprefix("data: "))
                if len(events) == 5:
                    llama.kill()
        assert events[-1] == "[DONE]"
        error = json.loads(events[-2])["error"]
        assert error["type"] in ("backend_unavailable", "backend_error")
        assert all("choices" in json.loads(event) for event in events[:5])
        assert httpx.get(f"{gw.url}/healthz").status_code == 200
        assert httpx.get(f"{gw.url}/readyz").status_code == 503


def test_slow_backend_is_a_504(silent_backend: str) -> None:
    env = _openai_env(silent_backend, LIFTOFF_REQUEST_TIMEOUT="1")
    with ServerProcess("liftoff.api.main:app", env, health="/healthz") as gateway:
        started = time.monotonic()
        response = httpx.post(
            f"{gateway.url}/v1/completions", json={"model": "m", "prompt": "hi"}, timeout=30
        )
        elapsed = time.monotonic() - started
    assert response.status_code == 504
    assert response.json()["error"]["type"] == "backend_timeout"
    assert 0.9 < elapsed < 5


def _requests_processing(backend: LlamaCppBackend) -> int:
    found = re.search(r"^llamacpp:requests_processing (\d+)", backend.engine_metrics(), re.M)
    assert found is not None
    return int(found.group(1))


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "Tell a long tale"}],
                                  "max_tokens": 900, "temperature": 1.0, "stream": True}),
        ("/api/generate", {"prompt": "Once upon a time",
                           "options": {"num_predict": 900, "temperature": 1.0}}),
    ],
)  # fmt: skip
def test_client_disconnect_stops_the_embedded_engine(
    gguf_path: Path, path: str, body: dict[str, object]
) -> None:
    settings = Settings(model=str(gguf_path), context_size=1024)
    app = create_app(settings)
    with serve_in_thread(app) as url:
        backend = app.state.generator.backend
        assert isinstance(backend, LlamaCppBackend)
        request = {**body, "model": backend.model_id}
        with httpx.stream("POST", url + path, json=request, timeout=30) as response:
            assert response.status_code == 200
            lines = response.iter_lines()
            for _ in range(5):
                next(lines)
            assert _requests_processing(backend) == 1
        deadline = time.monotonic() + 1.0
        while _requests_processing(backend) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _requests_processing(backend) == 0


def test_readiness_recovers_by_itself_when_ollama_comes_up_late(
    fake_ollama_down: FakeOllama,
) -> None:
    env = {"LIFTOFF_BACKEND": "ollama", "OLLAMA_HOST": fake_ollama_down.url}
    with ServerProcess("liftoff.api.main:app", env, health="/healthz") as gateway:
        ready = httpx.get(f"{gateway.url}/readyz")
        assert ready.status_code == 503
        assert "cannot reach Ollama" in ready.json()["error"]
        chat = httpx.post(
            f"{gateway.url}/api/chat",
            json={"model": DEFAULT_MODEL, "messages": [{"role": "user", "content": "a"}]},
        )
        assert chat.status_code == 503 and chat.headers["Retry-After"] == "5"
        fake_ollama_down.start()
        deadline = time.monotonic() + 15
        while httpx.get(f"{gateway.url}/readyz").status_code != 200:
            assert time.monotonic() < deadline, "readiness did not recover"
            time.sleep(0.2)
        answer = httpx.post(
            f"{gateway.url}/api/chat",
            json={"model": DEFAULT_MODEL, "stream": False,
                  "messages": [{"role": "user", "content": "a b"}]},
        )  # fmt: skip
        assert answer.status_code == 200 and answer.json()["done"] is True
