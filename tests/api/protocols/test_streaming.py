"""Generations as each surface's response: errors name the field the client sent, before
the first byte as an HTTP error and after it inside the stream; an abandoned stream ends
its generation."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from liftoff.api.backends.base import Completion, Finish, GenerationRequest, TextDelta
from liftoff.api.backends.wire import OPENAI_NAMES
from liftoff.api.errors import FieldError, ServiceError
from liftoff.api.generation import Generator, Limits
from liftoff.api.limits import ConcurrencyLimiter
from liftoff.api.protocols.errors import FieldNames
from liftoff.api.protocols.streaming import encode_stream
from liftoff.server.context import RequestInfo
from tests.api.protocols.conftest import ServeBackend
from tests.api.scripted_backend import ScriptedBackend

HI = [{"role": "user", "content": "hi"}]
LIMIT = "above this gateway's limit of 20 (LIFTOFF_MAX_TOKENS_LIMIT)"
NO_SEED = {name: wire for name, wire in OPENAI_NAMES.items() if name != "seed"}
UNSUPPORTED = "is not supported by the scripted backend"

CASES: list[tuple[str, dict[str, Any], str]] = [
    # (path, body, the message, which starts with the field as the client named it)
    ("/v1/chat/completions", {"messages": HI, "max_tokens": 21}, f"max_tokens is 21, {LIMIT}"),
    ("/v1/chat/completions", {"messages": HI, "max_completion_tokens": 21, "stream": True},
     f"max_completion_tokens is 21, {LIMIT}"),
    ("/v1/completions", {"prompt": "hi", "max_tokens": 21}, f"max_tokens is 21, {LIMIT}"),
    ("/v1/chat/completions", {"messages": HI, "seed": 1}, f"seed {UNSUPPORTED}"),
    ("/v1/completions", {"prompt": "hi", "seed": 1, "stream": True}, f"seed {UNSUPPORTED}"),
    ("/api/chat", {"messages": HI, "options": {"num_predict": 21}},
     f"options.num_predict is 21, {LIMIT}"),
    ("/api/generate", {"prompt": "hi", "options": {"seed": 1}, "stream": False},
     f"options.seed {UNSUPPORTED}"),
    ("/predict", {"instances": [{"prompt": "hi"}],
                  "parameters": {"model": "m", "maxOutputTokens": 21}},
     f"parameters.max_output_tokens is 21, {LIMIT}"),
    ("/predict", {"instances": [{"messages": HI}], "parameters": {"model": "m", "seed": 1}},
     f"parameters.seed {UNSUPPORTED}"),
]  # fmt: skip


@pytest.mark.parametrize(("path", "body", "message"), CASES)
async def test_errors_before_the_first_byte_name_the_field_as_the_client_sent_it(
    serve_backend: ServeBackend, path: str, body: dict[str, Any], message: str
) -> None:
    backend = ScriptedBackend([0], names=NO_SEED)
    gateway = serve_backend(backend, max_tokens=20)
    model = {} if path == "/predict" else {"model": "m"}  # Vertex: in the parameters
    response = await gateway.client.post(path, json={**model, **body})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    if path.startswith("/v1/"):
        assert (error["message"], error["param"]) == (message, message.split()[0])
    else:
        assert error == message
    assert gateway.slots.active == 0


async def test_a_failure_after_the_first_byte_travels_in_the_openai_stream(
    serve_backend: ServeBackend,
) -> None:
    late = FieldError("options.seed", UNSUPPORTED)
    gateway = serve_backend(ScriptedBackend([0, 0], fail=late))
    body = {"model": "m", "messages": HI, "stream": True}
    response = await gateway.client.post("/v1/chat/completions", json=body)
    assert response.status_code == 200
    events = [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]
    texts = [json.loads(event)["choices"][0]["delta"].get("content") for event in events[:2]]
    assert texts == ["t0", "t1"]
    error = json.loads(events[2])["error"]
    assert (error["message"], error["param"]) == (f"seed {UNSUPPORTED}", "seed")
    assert events[3:] == ["[DONE]"]
    assert gateway.slots.active == 0


async def test_a_failure_after_the_first_byte_is_the_last_ollama_line(
    serve_backend: ServeBackend,
) -> None:
    late = FieldError("options.seed", UNSUPPORTED)
    gateway = serve_backend(ScriptedBackend([0, 0], fail=late))
    response = await gateway.client.post("/api/chat", json={"model": "m", "messages": HI})
    assert response.status_code == 200
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert [line["message"]["content"] for line in lines[:2]] == ["t0", "t1"]
    assert lines[2:] == [{"error": f"options.seed {UNSUPPORTED}"}]


class _TextWire:
    media_type = "text/plain"
    headers = None
    fields = FieldNames({})

    def delta(self, event: TextDelta) -> bytes:
        return event.text.encode()

    def finish(self, finish: Finish) -> bytes:
        return b"."

    def error(self, error: ServiceError) -> bytes:
        return b"!"

    def end(self) -> bytes:
        return b""

    def whole(self, completion: Completion) -> dict[str, Any]:
        return {}


@pytest.mark.parametrize("chunks_sent", [0, 2])
async def test_a_stream_abandoned_by_the_server_ends_its_generation_and_frees_its_slot(
    chunks_sent: int,
) -> None:
    # Starlette leaves the body where it was when the client goes away (before the first
    # chunk, or while one is being sent); the event loop closes what is left once it is
    # garbage, as it does for any async generator.
    slots = ConcurrencyLimiter(1, queue=0, queue_timeout=1)
    backend = ScriptedBackend([0, 0, 0, 60])
    generator = Generator(backend, Limits(), concurrency=slots)
    stream = await generator.start(GenerationRequest(model="m", prompt="p"), RequestInfo())
    body = encode_stream(stream, _TextWire())
    assert [await anext(body) for _ in range(chunks_sent)] == [b"t0", b"t1"][:chunks_sent]
    del body, stream
    deadline = time.monotonic() + 2
    while slots.active and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    assert slots.active == 0 and backend.closed
