"""Work whose client left stops, and what it consumed is charged to the caller. The probe's
inputs: a non-streaming request kept generating after its client disconnected, and 2,048
embedding inputs kept the CPU busy for minutes after the client left and were never charged
to the rate limit."""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from liftoff.api.app import create_app
from liftoff.api.backends.llamacpp import LlamaCppBackend
from liftoff.api.config import Settings
from tests.servers import serve_in_thread

pytestmark = pytest.mark.model

TALE = "Once upon a time, in a kingdom by the sea, there lived"


@pytest.fixture(scope="module")
def served(gguf_path: Path) -> Iterator[tuple[str, LlamaCppBackend]]:
    """The embedded engine in this process, so the test sees whether it is still working."""
    app = create_app(Settings(model=str(gguf_path), context_size=2048, parallel=1))
    with serve_in_thread(app) as url:
        backend = app.state.generator.backend
        assert isinstance(backend, LlamaCppBackend)
        yield url, backend


def _engine(backend: LlamaCppBackend, name: str) -> int:
    found = re.search(rf"^llamacpp:{name} (\d+)", backend.engine_metrics(), re.M)
    assert found is not None
    return int(found.group(1))


def _charged(url: str) -> tuple[float, float]:
    """Prompt and completion tokens charged to callers without a key so far."""
    text = httpx.get(f"{url}/metrics").text
    totals = []
    for name in ("liftoff_prompt_tokens_total", "liftoff_completion_tokens_total"):
        found = re.search(rf'^{name}{{key="anonymous"}} ([0-9.e+]+)', text, re.M)
        totals.append(float(found.group(1)) if found else 0.0)
    return totals[0], totals[1]


def _wait(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _send_then_leave(url: str, path: str, body: dict[str, Any], until: Callable[[], bool]) -> None:
    """POST ``body`` and hang up, without reading an answer, once ``until()`` holds (the
    engine is at work): what a client that gives up does, on a busy machine too."""
    host, port = url.removeprefix("http://").split(":")
    payload = json.dumps(body).encode()
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n").encode()  # fmt: skip
    with socket.create_connection((host, int(port))) as client:
        client.sendall(head + payload)
        assert _wait(until, 120), "the engine never started"


@pytest.mark.parametrize(("path", "body"), [
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": TALE}],
                              "max_tokens": 1500, "temperature": 1.0}),
    ("/v1/completions", {"prompt": TALE, "max_tokens": 1500, "temperature": 1.0}),
    ("/api/generate", {"prompt": TALE, "stream": False,
                       "options": {"num_predict": 1500, "temperature": 1.0}}),
    ("/predict", {"instances": [{"prompt": TALE}],
                  "parameters": {"max_output_tokens": 1500, "temperature": 1.0}}),
])  # fmt: skip
def test_a_whole_answer_stops_generating_when_its_client_leaves_and_is_charged(
    served: tuple[str, LlamaCppBackend], path: str, body: dict[str, Any]
) -> None:
    url, backend = served
    prompt_before, completion_before = _charged(url)
    decoded = _engine(backend, "n_decode_total")
    model = {} if path == "/predict" else {"model": backend.model_id}
    _send_then_leave(url, path, {**body, **model},
                     until=lambda: _engine(backend, "n_decode_total") >= decoded + 5)  # fmt: skip
    # 1,500 tokens take half a minute on a quiet machine: the engine stops long before.
    assert _wait(lambda: _engine(backend, "requests_processing") == 0, 20)
    prompt_after, completion_after = _charged(url)
    assert prompt_after - prompt_before >= len(TALE) // 4  # the prompt, estimated
    assert completion_after - completion_before >= 1  # the tokens generated before it left


def test_embeddings_stop_when_their_client_leaves_and_are_charged(
    served: tuple[str, LlamaCppBackend],
) -> None:
    url, backend = served
    # About 25 tokens each: 2,048 of them keep the engine busy for minutes on this machine,
    # one batch of 32 for seconds.
    inputs = [f"{TALE} a princess number {i} who loved the lighthouse" for i in range(2048)]
    prompt_before, _ = _charged(url)
    decoded = _engine(backend, "n_decode_total")
    body = {"model": backend.model_id, "input": inputs}
    _send_then_leave(url, "/v1/embeddings", body,
                     until=lambda: _engine(backend, "n_decode_total") > decoded)  # fmt: skip
    # The engine is free again within a batch's time (32 inputs), not after all 2,048
    # (minutes here), and the next request is answered; the bound leaves room for a
    # machine busy with other work.
    started = time.monotonic()
    answer = httpx.post(f"{url}/api/embed", json={"model": backend.model_id, "input": "hello"},
                        timeout=120)  # fmt: skip
    assert answer.status_code == 200
    assert time.monotonic() - started < 60
    prompt_after, _ = _charged(url)
    assert prompt_after - prompt_before >= 32  # at least the batch under way
