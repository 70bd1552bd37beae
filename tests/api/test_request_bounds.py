"""Every list a surface takes is counted: a request over a count is a 400 naming the field,
at once, before it reaches a backend or holds a generation slot; and the OpenAPI document
says so. The probe's input: 100,000 empty messages (3.3 MB, under the body limit) held a
generation slot for 302 s and grew the gateway's memory by 180 MB."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from liftoff.api.generation import MODEL_NAME_PATTERN
from liftoff.api.protocols.bounds import (
    MAX_CONTENT_PARTS,
    MAX_EMBEDDING_INPUTS,
    MAX_INSTANCES,
    MAX_MESSAGES,
    MAX_METADATA,
    MAX_STOP,
    MAX_STOP_CHARS,
)
from tests.fakes.ollama_server import DEFAULT_MODEL, FakeOllama
from tests.servers import ServerProcess

M = DEFAULT_MODEL
HI = {"role": "user", "content": "hi"}
EMPTY = {"role": "user", "content": ""}


@pytest.fixture(scope="module")
def gateway(shared_fake_ollama: FakeOllama) -> Iterator[ServerProcess]:
    env = {"LIFTOFF_BACKEND": "ollama", "OLLAMA_HOST": shared_fake_ollama.url,
           "LIFTOFF_LOG_LEVEL": "WARNING"}  # fmt: skip
    with ServerProcess("liftoff.api.main:app", env) as server:
        yield server


CASES: list[tuple[str, str, dict[str, Any], str]] = [
    # (case, path, body, the field the 400 names)
    ("100,000 empty chat messages", "/v1/chat/completions",
     {"model": M, "messages": [EMPTY] * 100_000}, "messages"),
    ("100,000 empty Ollama messages", "/api/chat",
     {"model": M, "messages": [EMPTY] * 100_000, "stream": False}, "messages"),
    # (100,000 would be over Vertex's 1.5 MB body limit: a 413 already)
    ("one message too many in a Vertex instance", "/predict",
     {"instances": [{"messages": [EMPTY] * (MAX_MESSAGES + 1)}]}, "instances.0.messages"),
    ("one message too many", "/v1/chat/completions",
     {"model": M, "messages": [HI] * (MAX_MESSAGES + 1)}, "messages"),
    ("too many content parts", "/v1/chat/completions",
     {"model": M, "messages": [{"role": "user", "content": [{"type": "text", "text": "a"}]
                                * (MAX_CONTENT_PARTS + 1)}]}, "messages.0.content"),
    ("too many stop strings", "/v1/completions",
     {"model": M, "prompt": "a", "stop": ["x"] * (MAX_STOP + 1)}, "stop"),
    ("a stop string too long", "/v1/completions",
     {"model": M, "prompt": "a", "stop": "x" * (MAX_STOP_CHARS + 1)}, "stop.0"),
    ("too many Ollama stop strings", "/api/generate",
     {"model": M, "prompt": "a", "options": {"stop": ["x"] * (MAX_STOP + 1)}}, "options.stop"),
    ("too many Vertex stop sequences", "/predict",
     {"instances": [{"prompt": "a"}], "parameters": {"stop_sequences": ["x"] * (MAX_STOP + 1)}},
     "parameters.stop_sequences"),
    ("too many Vertex instances", "/predict",
     {"instances": [{"prompt": "a"}] * (MAX_INSTANCES + 1)}, "instances"),
    ("too many embedding inputs", "/v1/embeddings",
     {"model": M, "input": ["a"] * (MAX_EMBEDDING_INPUTS + 1)}, "input"),
    ("too many Ollama embedding inputs", "/api/embed",
     {"model": M, "input": ["a"] * (MAX_EMBEDDING_INPUTS + 1)}, "input"),
    ("too many metadata pairs", "/v1/chat/completions",
     {"model": M, "messages": [HI],
      "metadata": {str(i): "v" for i in range(MAX_METADATA + 1)}}, "metadata"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "path", "body", "field"), CASES, ids=[c[0] for c in CASES])
def test_a_list_over_its_count_is_refused_at_once_naming_the_field(
    gateway: ServerProcess,
    shared_fake_ollama: FakeOllama,
    case: str,
    path: str,
    body: dict[str, Any],
    field: str,
) -> None:
    before = len(shared_fake_ollama.requests)
    started = time.monotonic()
    response = httpx.post(f"{gateway.url}{path}", json=body, timeout=30)
    assert response.status_code == 400, response.text[:300]
    assert time.monotonic() - started < 5
    error = response.json()["error"]
    message = error["message"] if isinstance(error, dict) else error
    assert message.startswith((f"{field}:", f"{field} ")), message
    if isinstance(error, dict):
        assert error["param"] == field
    assert all(r.path == "/api/tags" for r in shared_fake_ollama.requests[before:])


def test_the_limits_are_in_the_openapi_document(gateway: ServerProcess) -> None:
    schemas = httpx.get(f"{gateway.url}/openapi.json").json()["components"]["schemas"]
    chat = schemas["ChatCompletionRequest"]["properties"]
    assert chat["messages"]["maxItems"] == MAX_MESSAGES
    assert chat["max_tokens"]["anyOf"][0]["maximum"] == 16384  # LIFTOFF_MAX_TOKENS_LIMIT
    assert chat["model"]["pattern"] == MODEL_NAME_PATTERN and chat["model"]["maxLength"] == 256
    stop = {str(member.get("maxItems") or member.get("maxLength")) for member in
            chat["stop"]["anyOf"] if member.get("type") != "null"}  # fmt: skip
    assert stop == {str(MAX_STOP), str(MAX_STOP_CHARS)}
    assert schemas["Options"]["properties"]["num_predict"]["not"] == {"const": 0}
    assert schemas["EmbeddingRequest"]["properties"]["dimensions"]["type"] == "null"
    assert schemas["PredictRequest"]["properties"]["instances"]["maxItems"] == MAX_INSTANCES
    assert "oneOf" in schemas["Instance"]
    prompt = schemas["CompletionRequest"]["properties"]["prompt"]["anyOf"][0]
    assert prompt["maxLength"] == 1_000_000  # LIFTOFF_MAX_PROMPT_CHARS
