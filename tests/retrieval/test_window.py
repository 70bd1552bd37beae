"""Chunks never exceed the embedding model's window: the gateway refuses a longer input with
a 400 naming it, and the ingestion splits that chunk until every part is accepted."""

from __future__ import annotations

import itertools
from pathlib import Path

import httpx
import pytest

from tests.retrieval.conftest import store_env
from tests.servers import ServerProcess

pytestmark = pytest.mark.model

WINDOW_CHARS = 600  # the gateway refuses longer inputs (LIFTOFF_MAX_PROMPT_CHARS)
# 30 sentences of 12 word pieces: 362 tokens, beyond all-MiniLM-L6-v2's 256.
TEXT = " ".join(f"Sentence {i} is about the tides of the northern sea." for i in range(30))


@pytest.mark.parametrize(
    ("limit", "longest"),
    [
        pytest.param({"LIFTOFF_MAX_PROMPT_CHARS": str(WINDOW_CHARS)}, WINDOW_CHARS, id="chars"),
        # At 4.3 characters a word piece here, 256 tokens are under 1,100 characters.
        pytest.param({}, 1100, id="the-embedding-models-256-tokens"),
    ],
)
def test_a_chunk_beyond_the_window_is_split_until_it_fits(
    gguf_path: Path, tmp_path: Path, limit: dict[str, str], longest: int
) -> None:
    gateway_env = {"LIFTOFF_MODEL": str(gguf_path), **limit}
    with ServerProcess("liftoff.api.main:app", gateway_env) as gateway:
        env = {
            "LIFTOFF_RAG_GATEWAY_URL": f"{gateway.url}/v1",
            **store_env("sqlite", tmp_path, None),
        }
        with (
            ServerProcess("liftoff.retrieval.main:app", env) as rag,
            httpx.Client(base_url=rag.url, timeout=600) as client,
        ):
            created = client.post(
                "/v1/collections",
                json={"name": "tides", "chunk_size": 3000, "chunk_overlap": 0, "min_score": -1},
            )
            assert created.status_code == 201, created.text
            assert len(TEXT) > 2 * WINDOW_CHARS  # one chunk at 3000, refused at 600
            stored = client.put("/v1/collections/tides/documents/tides.txt", content=TEXT.encode())
            assert stored.status_code == 201, stored.text
            assert stored.json()["chunks"] >= 2
            hits = client.post(
                "/v1/collections/tides/search", json={"query": "tides", "k": 50}
            ).json()["data"]
    assert len(hits) == stored.json()["chunks"]
    for hit in hits:
        assert len(hit["text"]) <= longest
        assert TEXT[hit["start"] : hit["start"] + len(hit["text"])] == hit["text"]
    covered = sorted((hit["start"], hit["start"] + len(hit["text"])) for hit in hits)
    assert covered[0][0] == 0 and covered[-1][1] == len(TEXT)
    for (_, end), (start, _) in itertools.pairwise(covered):
        assert start <= end + 1  # no text lost between parts (at most the space they split at)
