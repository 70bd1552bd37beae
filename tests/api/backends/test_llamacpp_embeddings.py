"""The embedded backend's embedding engine against sentence-transformers' own vectors.

``tests/api/fixtures/all-minilm-l6-v2.json`` holds what sentence-transformers 6.2 (torch 2.13
CPU) made from the same weights (``scripts/minilm_fixtures.py``); the gateway's llama.cpp
engine, loading the GGUF the gateway converted, must agree to cosine >= 0.9999, count the same
tokens, refuse or truncate beyond the 256-token window as asked, and give an input the same
vector whatever else its request holds.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from liftoff.api.backends.base import GenerationRequest, collect
from liftoff.api.backends.llamacpp import LlamaCppBackend
from liftoff.api.backends.llamacpp_embeddings import EmbeddingEngine
from liftoff.api.errors import (
    BackendUnavailable,
    ContextLengthExceeded,
    InvalidRequest,
    ModelNotFound,
)

pytestmark = pytest.mark.model

FIXTURES = json.loads(
    (Path(__file__).parents[1] / "fixtures" / "all-minilm-l6-v2.json").read_text()
)
WINDOW = 256
ROWS: list[dict[str, Any]] = FIXTURES["texts"]
INSIDE = [row for row in ROWS if row["tokens"] <= WINDOW]
BEYOND = [row for row in ROWS if row["tokens"] > WINDOW]
MODEL = "all-minilm-l6-v2"


def cosine(a: list[float], b: list[float]) -> float:
    x, y = np.asarray(a), np.asarray(b)
    return float(x @ y / np.linalg.norm(x) / np.linalg.norm(y))


@pytest.fixture(scope="module")
def backend(gguf_path: Path, embedding_gguf_path: Path) -> Iterator[LlamaCppBackend]:
    """Both engines, as the gateway builds them, loaded once for the module (in a thread:
    fixtures may be set up inside a test's event loop)."""
    made = LlamaCppBackend(gguf_path, context_size=512, embedding_gguf=embedding_gguf_path)
    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, made.start()).result()
        yield made
        thread.submit(asyncio.run, made.close()).result()


async def test_the_fixtures_come_from_the_weights_the_gateway_converts() -> None:
    from liftoff.api.model_files import EMBEDDING_WEIGHTS_SHA256

    assert FIXTURES["weights_sha256"] == EMBEDDING_WEIGHTS_SHA256
    assert FIXTURES["max_seq_length"] == WINDOW
    assert len(INSIDE) >= 15 and len(BEYOND) >= 2


async def test_vectors_match_sentence_transformers(backend: LlamaCppBackend) -> None:
    result = await backend.embed(MODEL, [row["text"] for row in INSIDE])

    for row, vector in zip(INSIDE, result.vectors, strict=True):
        assert len(vector) == 384
        assert cosine(vector, row["embedding"]) >= 0.9999, row["text"][:40]
        assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)  # L2-normalised
    # The same word pieces as the reference tokenizer, [CLS] and [SEP] included.
    assert result.prompt_tokens == sum(row["tokens"] for row in INSIDE)


async def test_an_input_has_one_vector_whatever_else_its_request_holds(
    backend: LlamaCppBackend,
) -> None:
    texts = [row["text"] for row in INSIDE]
    batch = (await backend.embed(MODEL, texts)).vectors
    reversed_batch = (await backend.embed(MODEL, texts[::-1])).vectors[::-1]
    for text, in_batch, in_reverse in zip(texts, batch, reversed_batch, strict=True):
        [alone] = (await backend.embed(MODEL, [text])).vectors
        assert in_batch == alone  # bit for bit
        assert in_reverse == alone


async def test_the_contract_finding_one_text_twice_in_a_request(backend: LlamaCppBackend) -> None:
    text = "the cat sat on the mat"
    batch = (await backend.embed(MODEL, [text, "stock prices", text])).vectors
    [alone] = (await backend.embed(MODEL, [text])).vectors
    assert batch[0] == batch[2] == alone


async def test_an_input_of_exactly_the_window_is_embedded(backend: LlamaCppBackend) -> None:
    [row] = [row for row in ROWS if row["tokens"] == WINDOW]
    result = await backend.embed(MODEL, [row["text"]])
    assert result.prompt_tokens == WINDOW
    assert cosine(result.vectors[0], row["embedding"]) >= 0.9999


@pytest.mark.parametrize("row", BEYOND, ids=lambda row: f"{row['tokens']}-tokens")
async def test_an_input_beyond_the_window_is_refused_naming_it(
    backend: LlamaCppBackend, row: dict[str, Any]
) -> None:
    texts = ["a short one", "another", row["text"], "and after"]
    with pytest.raises(ContextLengthExceeded) as refused:
        await backend.embed(MODEL, texts)
    assert refused.value.param == "input.2"
    assert f"an input of {row['tokens']} tokens" in refused.value.message
    assert f"{WINDOW}-token window of {MODEL}" in refused.value.message


async def test_truncation_keeps_the_first_tokens_as_sentence_transformers_does(
    backend: LlamaCppBackend,
) -> None:
    rows = [INSIDE[0], *BEYOND, INSIDE[1]]
    result = await backend.embed(MODEL, [row["text"] for row in rows], truncate=True)

    for row, vector in zip(rows, result.vectors, strict=True):
        assert cosine(vector, row["embedding"]) >= 0.9999, row["text"][:40]
    expected = rows[0]["tokens"] + WINDOW * len(BEYOND) + rows[-1]["tokens"]
    assert result.prompt_tokens == expected


async def test_models_are_listed_with_what_they_are_for(backend: LlamaCppBackend) -> None:
    listed = {model.id: model.capabilities for model in await backend.list_models()}
    assert listed == {backend.model_id: ("completion",), MODEL: ("embedding",)}


async def test_each_model_is_refused_for_the_others_work_naming_the_right_one(
    backend: LlamaCppBackend,
) -> None:
    with pytest.raises(InvalidRequest, match=f"embeddings come from {MODEL}") as refused:
        await backend.embed(backend.model_id, ["text"])
    assert refused.value.param == "model"
    with pytest.raises(InvalidRequest, match=f"generations come from {backend.model_id}"):
        await collect(backend.generate(GenerationRequest(MODEL, prompt="Hello")))
    with pytest.raises(ModelNotFound, match=f"{backend.model_id}, {MODEL}"):
        await backend.embed("nomic-embed-text", ["text"])


async def test_the_engines_http_port_answers_only_this_process(
    backend: LlamaCppBackend,
) -> None:
    engine = backend.embedding
    assert engine is not None
    async with httpx.AsyncClient(base_url=engine.address) as client:
        response = await client.post("/v1/embeddings", json={"input": "steal a vector"})
    assert response.status_code == 401


async def test_a_file_that_is_not_a_model_is_unavailable_naming_it(tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF but nothing else")
    with ThreadPoolExecutor(1) as executor:
        engine = EmbeddingEngine(broken, executor=executor)
        with pytest.raises(BackendUnavailable, match=r"broken\.gguf"):
            await engine.start()
        assert not engine.loaded
