"""Embeddings through the gateway's surfaces, with the clients people use: the ``openai`` SDK,
LangChain's ``OpenAIEmbeddings`` and the ``ollama`` client, against the gateway serving Gemma
for chat and all-MiniLM-L6-v2 for embeddings (the real engines, in a uvicorn process).

The vectors are sentence-transformers' (``tests/api/fixtures/all-minilm-l6-v2.json``); the
window is 256 tokens: the OpenAI surface refuses beyond it naming the input, the Ollama
surface truncates where ``truncate`` asks (its default) and refuses where it does not.
"""

from __future__ import annotations

import gc
import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import ollama
import openai
import pytest
from langchain_openai import OpenAIEmbeddings

from tests.servers import ServerProcess

pytestmark = pytest.mark.model

FIXTURES = json.loads((Path(__file__).parent / "fixtures" / "all-minilm-l6-v2.json").read_text())
ROWS: list[dict[str, Any]] = FIXTURES["texts"]
INSIDE = [row for row in ROWS if row["tokens"] <= 256]
BEYOND = [row for row in ROWS if row["tokens"] > 256]


def cosines(vectors: list[list[float]], rows: list[dict[str, Any]]) -> list[float]:
    got = np.asarray(vectors)
    expected = np.asarray([row["embedding"] for row in rows])
    return list((got * expected).sum(axis=1) / np.linalg.norm(got, axis=1))


@pytest.fixture
def client(gateway: ServerProcess) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="unused", max_retries=0) as client:
        yield client


@pytest.fixture
def ollama_client(gateway: ServerProcess) -> Iterator[ollama.Client]:
    with ollama.Client(host=gateway.url) as client:
        yield client


def test_models_say_which_one_embeds(
    gateway: ServerProcess, model_id: str, embedding_model_id: str
) -> None:
    listed = httpx.get(f"{gateway.url}/v1/models").json()["data"]
    assert [(model["id"], model["capabilities"]) for model in listed] == [
        (model_id, ["completion"]),
        (embedding_model_id, ["embedding"]),
    ]


def test_openai_sdk_gets_sentence_transformers_vectors(
    client: openai.OpenAI, embedding_model_id: str
) -> None:
    result = client.embeddings.create(
        model=embedding_model_id, input=[row["text"] for row in INSIDE]
    )
    assert result.model == embedding_model_id
    assert min(cosines([row.embedding for row in result.data], INSIDE)) >= 0.9999
    assert result.usage.prompt_tokens == sum(row["tokens"] for row in INSIDE)


def test_langchain_openai_embeddings_work_unchanged(
    gateway: ServerProcess, embedding_model_id: str
) -> None:
    embeddings = OpenAIEmbeddings(
        base_url=f"{gateway.url}/v1",
        api_key="unused",  # type: ignore[arg-type]
        model=embedding_model_id,
        # LangChain counts tokens with tiktoken (a download) unless told the server does.
        check_embedding_ctx_length=False,
        max_retries=0,
    )
    texts = [row["text"] for row in INSIDE[:5]]
    documents = embeddings.embed_documents(texts)
    query = embeddings.embed_query(texts[0])
    with warnings.catch_warnings():  # LangChain keeps its HTTP client open; no close()
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
    assert min(cosines(documents, INSIDE[:5])) >= 0.9999
    assert query == pytest.approx(documents[0], abs=1e-6)


def test_openai_surface_refuses_an_input_beyond_the_window_naming_it(
    client: openai.OpenAI, embedding_model_id: str
) -> None:
    texts = [INSIDE[0]["text"], BEYOND[0]["text"]]
    with pytest.raises(openai.BadRequestError) as refused:
        client.embeddings.create(model=embedding_model_id, input=texts)
    body = refused.value.body
    assert isinstance(body, dict)
    assert body["param"] == "input.1"
    assert body["type"] == "context_length_exceeded"
    assert f"an input of {BEYOND[0]['tokens']} tokens" in body["message"]


def test_the_chat_model_is_not_an_embedding_model(
    client: openai.OpenAI, model_id: str, embedding_model_id: str
) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        client.embeddings.create(model=model_id, input="hello")
    assert refused.value.param == "model"
    assert f"embeddings come from {embedding_model_id}" in refused.value.message
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(
            model=embedding_model_id, messages=[{"role": "user", "content": "hi"}]
        )
    assert f"generations come from {model_id}" in refused.value.message


def test_ollama_embed_truncates_by_default_as_sentence_transformers_does(
    ollama_client: ollama.Client, embedding_model_id: str
) -> None:
    rows = [INSIDE[0], *BEYOND]
    result = ollama_client.embed(model=embedding_model_id, input=[row["text"] for row in rows])
    assert min(cosines([list(v) for v in result.embeddings], rows)) >= 0.9999
    assert result.prompt_eval_count == rows[0]["tokens"] + 256 * len(BEYOND)


def test_ollama_embed_without_truncation_refuses_naming_the_input(
    ollama_client: ollama.Client, embedding_model_id: str
) -> None:
    with pytest.raises(ollama.ResponseError) as refused:
        ollama_client.embed(
            model=embedding_model_id, input=["short", BEYOND[-1]["text"]], truncate=False
        )
    assert refused.value.status_code == 400
    assert "256-token window" in refused.value.error
