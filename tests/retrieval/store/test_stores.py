"""Both stores against one specification: SQLite + sqlite-vec and a real Postgres + pgvector."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from liftoff.retrieval.errors import (
    CollectionExists,
    CollectionNotFound,
    DocumentNotFound,
    InvalidRequest,
    StoreUnavailable,
)
from liftoff.retrieval.records import Collection, NewCollection, NewDocument, Piece
from liftoff.retrieval.store import Store
from liftoff.retrieval.store.postgres import PostgresStore
from liftoff.retrieval.store.sqlite import SQLiteStore
from tests.retrieval.conftest import STORES, fresh_database

DIM = 16


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        opened: Store = SQLiteStore(tmp_path / "index.sqlite3")
    else:
        opened = PostgresStore(fresh_database(request.getfixturevalue("postgres")))
    yield opened
    opened.close()


def unit_vectors(n: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def new_collection(store: Store, name: str = "docs") -> Collection:
    return store.create_collection(
        NewCollection(name=name, embedding_model="model-a", dimension=DIM, chunk_size=800,
                      chunk_overlap=100, min_score=0.5)
    )  # fmt: skip


def put(store: Store, collection: Collection, source: str, texts: list[str], seed: int) -> None:
    pieces = [Piece(text=text, start=10 * i) for i, text in enumerate(texts)]
    document = NewDocument(source=source, format="text", sha256=f"sha-{seed}", bytes=100)
    store.replace_document(collection, document, pieces, unit_vectors(len(texts), seed))


def test_a_collection_keeps_its_model_dimension_and_settings(store: Store) -> None:
    created = new_collection(store)
    assert (created.name, created.embedding_model, created.dimension) == ("docs", "model-a", DIM)
    assert (created.chunk_size, created.chunk_overlap, created.min_score) == (800, 100, 0.5)
    assert (created.documents, created.chunks) == (0, 0)
    assert [c.name for c in store.list_collections()] == ["docs"]
    with pytest.raises(CollectionExists):
        new_collection(store)


def test_unknown_collections_and_documents_are_not_found(store: Store) -> None:
    with pytest.raises(CollectionNotFound):
        store.get_collection("nope")
    with pytest.raises(CollectionNotFound):
        store.delete_collection("nope")
    docs = new_collection(store)
    with pytest.raises(DocumentNotFound):
        store.delete_document(docs, "missing.md")
    assert store.get_document(docs, "missing.md") is None


def test_search_returns_the_nearest_chunks_best_first_with_cosine_scores(store: Store) -> None:
    docs = new_collection(store)
    vectors = unit_vectors(6, seed=1)
    pieces = [Piece(text=f"chunk {i}", start=i * 100) for i in range(6)]
    document = NewDocument(source="a/b.md", format="markdown", sha256="x", bytes=600)
    stored = store.replace_document(docs, document, pieces, vectors)
    assert stored.chunks == 6

    hits = store.search(docs, vectors[3], k=3)

    assert next(hit.text for hit in hits) == "chunk 3"
    assert hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert (hits[0].source, hits[0].chunk, hits[0].start) == ("a/b.md", 3, 300)
    expected = sorted(range(6), key=lambda i: -float(vectors[i] @ vectors[3]))[:3]
    assert [hit.chunk for hit in hits] == expected
    for hit in hits:
        assert hit.score == pytest.approx(float(vectors[hit.chunk] @ vectors[3]), abs=1e-4)


def test_collections_do_not_see_each_others_chunks(store: Store) -> None:
    first, second = new_collection(store, "first"), new_collection(store, "second")
    put(store, first, "one.txt", ["only in first"], seed=2)
    put(store, second, "two.txt", ["only in second"], seed=3)
    assert {hit.text for hit in store.search(first, unit_vectors(1, 9)[0], k=10)} == {
        "only in first"
    }


def test_replacing_a_document_swaps_all_its_chunks(store: Store) -> None:
    docs = new_collection(store)
    put(store, docs, "guide.md", ["old 1", "old 2", "old 3"], seed=4)
    put(store, docs, "other.md", ["other"], seed=5)
    put(store, docs, "guide.md", ["new 1"], seed=6)

    texts = {hit.text for hit in store.search(docs, unit_vectors(1, 7)[0], k=10)}
    assert texts == {"new 1", "other"}
    collection = store.get_collection("docs")
    assert (collection.documents, collection.chunks) == (2, 2)
    assert [d.source for d in store.list_documents(collection)] == ["guide.md", "other.md"]
    guide = store.get_document(collection, "guide.md")
    assert guide is not None and (guide.sha256, guide.chunks) == ("sha-6", 1)


def test_readers_never_see_half_a_replaced_document(store: Store) -> None:
    docs = new_collection(store)
    versions = {"A": [f"A{i}" for i in range(8)], "B": [f"B{i}" for i in range(3)]}
    put(store, docs, "doc.md", versions["A"], seed=10)
    mixed: list[set[str]] = []
    stop = threading.Event()

    def read() -> None:
        query = unit_vectors(1, 11)[0]
        while not stop.is_set():
            seen = {hit.text[0] for hit in store.search(docs, query, k=20)}
            if len(seen) != 1:
                mixed.append(seen)

    readers = [threading.Thread(target=read) for _ in range(2)]
    for reader in readers:
        reader.start()
    for round_ in range(20):
        name = "B" if round_ % 2 == 0 else "A"
        put(store, docs, "doc.md", versions[name], seed=12 + round_)
    stop.set()
    for reader in readers:
        reader.join()
    assert mixed == []


def test_deleting_a_document_then_the_collection(store: Store) -> None:
    docs = new_collection(store)
    put(store, docs, "a.md", ["alpha"], seed=20)
    put(store, docs, "b.md", ["beta"], seed=21)
    store.delete_document(docs, "a.md")
    assert {hit.text for hit in store.search(docs, unit_vectors(1, 22)[0], k=5)} == {"beta"}
    store.delete_collection("docs")
    assert store.list_collections() == []
    again = new_collection(store)  # the name and its index can be used again
    assert again.chunks == 0
    assert store.search(again, unit_vectors(1, 23)[0], k=5) == []


def test_vectors_of_the_wrong_shape_are_refused_before_writing(store: Store) -> None:
    docs = new_collection(store)
    pieces = [Piece(text="x", start=0)]
    document = NewDocument(source="x.md", format="text", sha256="s", bytes=1)
    with pytest.raises(InvalidRequest, match="dimension 16"):
        store.replace_document(docs, document, pieces, np.ones((1, DIM + 1), np.float32))
    with pytest.raises(InvalidRequest):
        store.search(docs, np.ones(DIM - 1, np.float32), k=1)
    assert store.get_collection("docs").documents == 0


def test_a_deleted_collection_cannot_receive_a_document(store: Store) -> None:
    docs = new_collection(store)
    store.delete_collection("docs")
    with pytest.raises(CollectionNotFound):
        put(store, docs, "late.md", ["too late"], seed=30)


def test_postgres_searches_through_the_collections_hnsw_index(postgres: str) -> None:
    store = PostgresStore(fresh_database(postgres))
    try:
        docs = new_collection(store)
        put(store, docs, "a.md", [f"chunk {i}" for i in range(50)], seed=40)
        plan = store.explain_search(docs, unit_vectors(1, 41)[0], k=4)
        assert "rag_chunks_hnsw_" in plan, plan
    finally:
        store.close()


def test_postgres_unreachable_is_store_unavailable_without_the_password() -> None:
    url = "postgresql://rag:hunter2-secret@127.0.0.1:9/rag"
    with pytest.raises(StoreUnavailable) as caught:
        PostgresStore(url, connect_timeout=2)
    assert "hunter2" not in caught.value.message
    assert "127.0.0.1/rag" in caught.value.message


def test_a_read_only_sqlite_index_serves_searches(tmp_path: Path) -> None:
    path = tmp_path / "baked.sqlite3"
    writer = SQLiteStore(path)
    put(writer, new_collection(writer), "a.md", ["baked"], seed=50)
    writer.close()
    reader = SQLiteStore(path, read_only=True)
    try:
        docs = reader.get_collection("docs")
        assert [hit.text for hit in reader.search(docs, unit_vectors(1, 51)[0], k=1)] == ["baked"]
    finally:
        reader.close()
