"""The ``openai`` backend against a real OpenAI-compatible server: llama.cpp's own server,
started by xllamacpp in another process, serving the same GGUF; and an embedding model's
llama.cpp server configured as docs/embeddings.md tells operators."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import openai
import pytest

from liftoff.api.backends.openai import OpenAIBackend
from liftoff.api.errors import BackendUnavailable, ContextLengthExceeded, InvalidRequest
from liftoff.api.model_files import served_model_id
from tests.llama_server import LlamaServer
from tests.servers import ServerProcess


@pytest.fixture(scope="module")
def llama_server(gguf_path: Path) -> Iterator[LlamaServer]:
    with LlamaServer(str(gguf_path)) as server:
        yield server


def _gateway_env(base_url: str, gguf_path: Path, **extra: str) -> dict[str, str]:
    return {
        "LIFTOFF_BACKEND": "openai",
        "OPENAI_BASE_URL": base_url,
        # llama.cpp's server names its model after the file path it loaded.
        "LIFTOFF_MODEL": str(gguf_path),
        **extra,
    }


@pytest.fixture(scope="module")
def gateway(llama_server: LlamaServer, gguf_path: Path) -> Iterator[ServerProcess]:
    with ServerProcess("liftoff.api.main:app", _gateway_env(llama_server.url, gguf_path)) as server:
        yield server


@pytest.fixture
def client(gateway: ServerProcess) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="unused", max_retries=0) as client:
        yield client


def test_chat_and_completion_pass_through(client: openai.OpenAI, gguf_path: Path) -> None:
    model = str(gguf_path)
    chat = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Hi"}], max_tokens=5, temperature=0
    )
    assert chat.choices[0].message.content
    assert chat.usage is not None and chat.usage.completion_tokens == 5
    stream = client.completions.create(
        model=model, prompt="Roses are", max_tokens=5, temperature=0, stream=True
    )
    assert "".join(c.choices[0].text for c in stream if c.choices)


def test_same_answer_as_asking_llama_cpp_directly(
    client: openai.OpenAI, llama_server: LlamaServer, gguf_path: Path
) -> None:
    request = {"model": str(gguf_path), "prompt": "The ocean is", "max_tokens": 10,
               "temperature": 0}  # fmt: skip
    with openai.OpenAI(base_url=llama_server.url, api_key="unused") as direct:
        expected = direct.completions.create(**request).choices[0].text  # type: ignore[call-overload]
    through_gateway = client.completions.create(**request).choices[0].text  # type: ignore[call-overload]
    assert through_gateway == expected


def test_seed_at_high_temperature_is_repeatable(client: openai.OpenAI, gguf_path: Path) -> None:
    def sample(seed: int) -> str | None:
        return client.completions.create(
            model=str(gguf_path), prompt="My favourite animal is", max_tokens=12,
            temperature=1.5, top_p=0.95, seed=seed, extra_body={"top_k": 50},
        ).choices[0].text  # fmt: skip

    assert sample(11) == sample(11)
    assert len({sample(seed) for seed in range(1, 6)}) > 1


def test_stop_and_max_tokens_are_honoured(client: openai.OpenAI, gguf_path: Path) -> None:
    counted = (
        client.completions.create(
            model=str(gguf_path), prompt="1, 2, 3, 4,", max_tokens=30, temperature=0
        )
        .choices[0]
        .text
    )
    assert " 6," in counted  # the model counts on...
    stopped = client.completions.create(
        model=str(gguf_path), prompt="1, 2, 3, 4,", max_tokens=30, temperature=0, stop=[" 6"]
    )
    assert stopped.choices[0].text == counted[: counted.index(" 6")]
    assert stopped.choices[0].finish_reason == "stop"
    short = client.completions.create(
        model=str(gguf_path), prompt="1, 2, 3, 4,", max_tokens=3, temperature=0
    )
    assert short.usage is not None and short.usage.completion_tokens == 3
    assert short.choices[0].finish_reason == "length"


def test_unknown_model_is_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        client.completions.create(model="other", prompt="x", max_tokens=1)


def test_served_model_id_is_the_file_name_for_the_embedded_backend(gguf_path: Path) -> None:
    assert served_model_id(gguf_path) == "gemma-3-270m-q4_k_m"


def test_client_disconnect_cancels_the_upstream_generation(
    gateway: ServerProcess, llama_server: LlamaServer, gguf_path: Path
) -> None:
    body = {"model": str(gguf_path), "prompt": "Once upon a time", "max_tokens": 900,
            "temperature": 1.0, "stream": True}  # fmt: skip
    with httpx.stream("POST", f"{gateway.url}/v1/completions", json=body, timeout=30) as response:
        lines = response.iter_lines()
        for _ in range(6):
            next(lines)
        assert llama_server.requests_processing() == 1
    # 900 tokens take over 10 s here; a cancelled generation ends within a second.
    assert llama_server.wait_idle(timeout=1.0) < 1.0


FIXTURES = Path(__file__).parents[1] / "fixtures" / "all-minilm-l6-v2.json"


@pytest.fixture(scope="module")
def embedding_server(embedding_gguf_path: Path) -> Iterator[LlamaServer]:
    with LlamaServer(str(embedding_gguf_path), embedding=True) as server:
        yield server


async def test_an_embedding_server_configured_as_documented_gives_reference_vectors(
    embedding_server: LlamaServer, embedding_gguf_path: Path
) -> None:
    model = str(embedding_gguf_path)  # llama.cpp's server names its model after the path
    backend = OpenAIBackend(
        embedding_server.url, model="a-chat-model", embedding_model=model, api_key=None
    )
    rows = [row for row in json.loads(FIXTURES.read_text())["texts"] if row["tokens"] <= 256]
    texts = [row["text"] for row in rows]
    try:
        batch = (await backend.embed(model, texts)).vectors
        for row, vector in zip(rows, batch, strict=True):
            expected = np.asarray(row["embedding"])
            assert float(np.asarray(vector) @ expected) >= 0.9999 * np.linalg.norm(vector)
            # One slot: the same vector alone as in any batch.
            assert (await backend.embed(model, [row["text"]])).vectors[0] == vector
        with pytest.raises(ContextLengthExceeded) as refused:
            await backend.embed(model, ["short", "word " * 300], truncate=True)
        assert refused.value.param == "input"
        assert "OpenAI's embeddings API has none" in refused.value.message
        with pytest.raises(InvalidRequest, match=f"embeddings come from {model}"):
            await backend.embed("a-chat-model", ["hello"])
        # Both models listed, each with what it is for; readiness wants both served.
        listed = {m.id: m.capabilities for m in await backend.list_models()}
        assert listed == {"a-chat-model": ("completion",), model: ("embedding",)}
        with pytest.raises(BackendUnavailable, match="does not serve 'a-chat-model'"):
            await backend.check_ready()
    finally:
        await backend.close()
