"""Ollama's wire fidelity: every key real Ollama returns on ``/api/chat``, ``/api/generate``,
``/api/embed``, ``/api/tags``, ``/api/show`` and ``/api/ps``, with its JSON type, in the
gateway's answers (embedded engine and Ollama backend) and in the fake Ollama's. The shapes
are Ollama's documented ones, recorded in ``fixtures/ollama/``; ollama-python reads them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import ollama
import pytest

from tests.fakes.ollama_server import DEFAULT_MODEL, EMBEDDING_MODEL, FakeModel, FakeOllama
from tests.servers import ServerProcess

FIXTURES = Path(__file__).parent / "fixtures" / "ollama"


def documented(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    return {float: "number", str: "string", list: "array", dict: "object"}.get(type(value), "null")


def assert_shaped_like(expected: Any, actual: Any, where: str = "") -> None:
    """``actual`` has every key of ``expected``, each of the same JSON type (an integer is a
    number too); an empty object or list in ``expected`` only fixes the type."""
    kinds = {_kind(expected), _kind(actual)}
    assert _kind(expected) == _kind(actual) or kinds == {"integer", "number"}, (
        f"{where or 'answer'}: {_kind(actual)} where Ollama sends {_kind(expected)}"
    )
    if isinstance(expected, dict):
        for key, value in expected.items():
            assert key in actual, f"{where or 'answer'} has no {key!r}, which Ollama sends"
            assert_shaped_like(value, actual[key], f"{where}.{key}".lstrip("."))
    elif isinstance(expected, list) and expected and actual:
        assert_shaped_like(expected[0], actual[0], f"{where}[0]")


class Served:
    def __init__(self, url: str, model: str, embedding_model: str) -> None:
        self.url, self.model, self.embedding_model = url, model, embedding_model


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOllama]:
    fake = FakeOllama()
    fake.add_model(FakeModel(DEFAULT_MODEL))
    fake.add_model(FakeModel(EMBEDDING_MODEL, family="bert", parameter_size="23M"))
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def ollama_gateway(fake: FakeOllama) -> Iterator[str]:
    env = {"LIFTOFF_BACKEND": "ollama", "OLLAMA_HOST": fake.url}
    with ServerProcess("liftoff.api.main:app", env) as server:
        yield server.url


@pytest.fixture(params=["gateway/llamacpp", "gateway/ollama", "fake ollama"])
def served(request: pytest.FixtureRequest) -> Served:
    if request.param == "gateway/llamacpp":
        gateway: ServerProcess = request.getfixturevalue("gateway")
        model: str = request.getfixturevalue("model_id")
        return Served(gateway.url, model, model)
    if request.param == "gateway/ollama":
        return Served(request.getfixturevalue("ollama_gateway"), DEFAULT_MODEL, EMBEDDING_MODEL)
    fake: FakeOllama = request.getfixturevalue("fake")
    return Served(fake.url, DEFAULT_MODEL, EMBEDDING_MODEL)


def _stream(served: Served, path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    with httpx.stream("POST", served.url + path, json=body, timeout=60) as response:
        assert response.status_code == 200
        return [json.loads(line) for line in response.iter_lines() if line]


def test_generate(served: Served) -> None:
    body = {"model": served.model, "prompt": "Why is the sky blue?", "raw": True,
            "options": {"num_predict": 3}}  # fmt: skip
    *chunks, final = _stream(served, "/api/generate", body)
    for chunk in chunks:
        assert_shaped_like(documented("generate_chunk"), chunk)
    assert_shaped_like(documented("generate_final"), final)
    whole = httpx.post(f"{served.url}/api/generate", json={**body, "stream": False}, timeout=60)
    assert_shaped_like(documented("generate"), whole.json())
    loaded = httpx.post(f"{served.url}/api/generate", json={"model": served.model}, timeout=60)
    assert_shaped_like(documented("load"), json.loads(loaded.text.splitlines()[0]))


def test_chat(served: Served) -> None:
    body = {"model": served.model, "messages": [{"role": "user", "content": "Hello there"}],
            "options": {"num_predict": 3}}  # fmt: skip
    *chunks, final = _stream(served, "/api/chat", body)
    for chunk in chunks:
        assert_shaped_like(documented("chat_chunk"), chunk)
    assert_shaped_like(documented("chat_final"), final)
    whole = httpx.post(f"{served.url}/api/chat", json={**body, "stream": False}, timeout=60)
    assert_shaped_like(documented("chat"), whole.json())


def test_embed(served: Served) -> None:
    body = {"model": served.embedding_model, "input": ["Why is the sky blue?"]}
    answer = httpx.post(f"{served.url}/api/embed", json=body, timeout=60).json()
    assert_shaped_like(documented("embed"), answer)


def test_listings(served: Served) -> None:
    httpx.post(f"{served.url}/api/generate", json={"model": served.model}, timeout=60)  # loads it
    tags = httpx.get(f"{served.url}/api/tags", timeout=30).json()
    assert_shaped_like(documented("tags"), tags)
    assert served.model in [model["model"] for model in tags["models"]]
    shown = httpx.post(f"{served.url}/api/show", json={"model": served.model}, timeout=30)
    assert_shaped_like(documented("show"), shown.json())
    running = httpx.get(f"{served.url}/api/ps", timeout=30).json()
    assert_shaped_like(documented("ps"), running)
    assert served.model in [model["model"] for model in running["models"]]
    assert_shaped_like(documented("version"), httpx.get(f"{served.url}/api/version").json())


def test_the_official_client_reads_every_listing(served: Served) -> None:
    with ollama.Client(host=served.url) as client:
        shown = client.show(served.model)
        assert shown.details is not None and shown.capabilities
        assert shown.modelinfo is not None
        running = client.ps()
        assert running.models and running.models[0].expires_at is not None
        assert running.models[0].context_length


def test_show_answers_404_for_a_model_not_served(served: Served) -> None:
    response = httpx.post(f"{served.url}/api/show", json={"model": "no-such-model"}, timeout=30)
    assert response.status_code == 404
    assert "error" in response.json()


def test_the_embedded_engine_describes_its_model(gateway: ServerProcess, model_id: str) -> None:
    shown = httpx.post(f"{gateway.url}/api/show", json={"model": model_id}).json()
    assert shown["details"]["quantization_level"] == "Q4_K_M"
    assert shown["details"]["parameter_size"] == "268.10M"
    assert shown["capabilities"] == ["completion", "embedding"]
    assert shown["model_info"]["general.parameter_count"] == 268_098_176
    assert "num_ctx 512" in shown["parameters"]
    running = httpx.get(f"{gateway.url}/api/ps").json()["models"][0]
    assert (running["context_length"], running["size_vram"]) == (512, 0)
