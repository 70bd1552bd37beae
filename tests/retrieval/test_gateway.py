"""Which models the retrieval service uses when none is configured: the ones the gateway's
``/v1/models`` lists for embeddings and for chat, else the first it lists. Against real
gateways on the Ollama backend (Ollama itself is the protocol-faithful fake), which lists
every model Ollama holds and says what a model is for only when it was told."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from liftoff.retrieval.gateway import Gateway
from tests.fakes.ollama_server import DEFAULT_MODEL, EMBEDDING_MODEL, FakeModel, FakeOllama
from tests.servers import ServerProcess


def ollama_gateway(fake: FakeOllama, **settings: str) -> ServerProcess:
    env = {"LIFTOFF_BACKEND": "ollama", "OLLAMA_HOST": fake.url, "LIFTOFF_API_KEYS": "",
           "LIFTOFF_LOG_LEVEL": "WARNING", **settings}  # fmt: skip
    return ServerProcess("liftoff.api.main:app", env)


@pytest.fixture
def fake(fake_ollama: FakeOllama) -> Iterator[FakeOllama]:
    # Listed first by Ollama: the one a gateway that says nothing would be taken at.
    fake_ollama.models = {"qwen3:0.6b": FakeModel("qwen3:0.6b"), **fake_ollama.models}
    yield fake_ollama


async def test_the_models_the_gateway_lists_for_embeddings_and_chat_are_taken(
    fake: FakeOllama,
) -> None:
    with ollama_gateway(fake, LIFTOFF_EMBEDDING_MODEL="all-minilm") as gateway:
        client = Gateway(f"{gateway.url}/v1", api_key=None)
        try:
            assert await client.resolve("", capability="embedding") == EMBEDDING_MODEL
            assert await client.resolve("", capability="completion") == DEFAULT_MODEL
            assert await client.resolve("qwen3:0.6b", capability="embedding") == "qwen3:0.6b"
        finally:
            await client.close()


async def test_with_no_model_listed_for_embeddings_the_first_listed_is_taken(
    fake: FakeOllama,
) -> None:
    with ollama_gateway(fake) as gateway:  # no embedding model named
        client = Gateway(f"{gateway.url}/v1", api_key=None)
        try:
            assert await client.resolve("", capability="embedding") == "qwen3:0.6b"
            assert await client.resolve("", capability="completion") == DEFAULT_MODEL
        finally:
            await client.close()
