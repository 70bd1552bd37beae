"""Collections, ingestion and search: what the routes and the answer chain call.

    retrieval = Retrieval(store, gateway, settings, metrics)
    await retrieval.create_collection("docs")                      # records model + dimension
    document, status = await retrieval.ingest("docs", "guide.md", data, "text/markdown")
    found = await retrieval.search("docs", "How do I deploy?", k=4)
    found.relevant                                               # hits at or above min_score

Store calls and CPU work (parsing a PDF, splitting) run in worker threads: the event loop
only waits. Every collection remembers the embedding model and dimension its vectors came
from; searching or ingesting with another is refused (409), since the vectors of two models
cannot be compared.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal, ParamSpec, TypeVar

import numpy as np

from liftoff.retrieval import chunking, documents
from liftoff.retrieval.config import Settings
from liftoff.retrieval.errors import (
    ChunkTooLong,
    EmbeddingModelChanged,
    InvalidRequest,
    ReadOnly,
)
from liftoff.retrieval.gateway import Gateway, InputTooLong
from liftoff.retrieval.observability import RetrievalMetrics
from liftoff.retrieval.records import (
    COLLECTION_NAME,
    COLLECTION_NAME_RULE,
    MAX_SOURCE_CHARS,
    Collection,
    CollectionSettings,
    Document,
    Hit,
    NewCollection,
    NewDocument,
    Piece,
)
from liftoff.retrieval.store import Store, Vectors

logger = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")
IngestStatus = Literal["created", "replaced", "unchanged"]


@dataclass(frozen=True)
class Found:
    """The ``k`` nearest chunks of a query, best first, and the threshold they are held to."""

    collection: Collection
    query: str
    hits: list[Hit]
    min_score: float

    @property
    def relevant(self) -> list[Hit]:
        return [hit for hit in self.hits if hit.score >= self.min_score]

    @property
    def best_score(self) -> float | None:
        return self.hits[0].score if self.hits else None


class Retrieval:
    def __init__(
        self, store: Store, gateway: Gateway, settings: Settings, metrics: RetrievalMetrics
    ) -> None:
        self.store = store
        self.gateway = gateway
        self.settings = settings
        self.metrics = metrics
        self._executor = ThreadPoolExecutor(
            max_workers=settings.pool_size, thread_name_prefix="retrieval"
        )
        self._embedding_model = settings.embedding_model
        self._chat_model = settings.chat_model

    async def run(self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``function`` in a worker thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, functools.partial(function, *args, **kwargs)
        )

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

    # Models: named in the settings, or the ones the gateway says embed and chat, looked up
    # once.

    async def embedding_model(self) -> str:
        if not self._embedding_model:
            self._embedding_model = await self.gateway.resolve("", capability="embedding")
        return self._embedding_model

    async def chat_model(self) -> str:
        if not self._chat_model:
            self._chat_model = await self.gateway.resolve("", capability="completion")
        return self._chat_model

    # Collections.

    async def create_collection(
        self, name: str, settings: CollectionSettings | None = None
    ) -> Collection:
        """A new, empty collection; its vectors' dimension is learnt from one embedding."""
        self._check_writable()
        if not COLLECTION_NAME.fullmatch(name):
            raise InvalidRequest(f"invalid collection name {name!r}: {COLLECTION_NAME_RULE}",
                                 param="name")  # fmt: skip
        chosen = settings or CollectionSettings(
            chunk_size=self.settings.chunk_size,
            chunk_overlap=self.settings.chunk_overlap,
            min_score=self.settings.min_score,
        )
        if chosen.chunk_overlap >= chosen.chunk_size:
            raise InvalidRequest("chunk_overlap must be smaller than chunk_size",
                                 param="chunk_overlap")  # fmt: skip
        model = await self.embedding_model()
        probe = await self.gateway.embed(model, ["dimension probe"])
        spec = NewCollection(
            name=name, embedding_model=model, dimension=int(probe.shape[1]), **chosen.model_dump()
        )
        collection = await self.run(self.store.create_collection, spec)
        logger.info("collection %s created: %s, %d dimensions", name, model, spec.dimension,
                    extra={"collection": name})  # fmt: skip
        return collection

    async def collection(self, name: str) -> Collection:
        return await self.run(self.store.get_collection, name)

    async def collections(self) -> list[Collection]:
        return await self.run(self.store.list_collections)

    async def delete_collection(self, name: str) -> None:
        self._check_writable()
        await self.run(self.store.delete_collection, name)
        logger.info("collection %s deleted", name, extra={"collection": name})

    # Documents.

    async def documents(self, name: str, *, limit: int, offset: int) -> list[Document]:
        collection = await self.collection(name)
        return await self.run(self.store.list_documents, collection, limit=limit, offset=offset)

    async def ingest(
        self, name: str, source: str, data: bytes, content_type: str | None
    ) -> tuple[Document, IngestStatus]:
        """Extract, split, embed and store one document, replacing an earlier version of
        the same source; an identical one (same SHA-256) is left as it is."""
        self._check_writable()
        source = check_source(source)
        collection = await self.collection(name)
        model = await self.embedding_model()
        self.check_model(collection, model)
        digest = hashlib.sha256(data).hexdigest()
        existing = await self.run(self.store.get_document, collection, source)
        if existing is not None and existing.sha256 == digest:
            return existing, "unchanged"
        started = time.perf_counter()
        extracted = await self.run(documents.extract, data, source=source,
                                   content_type=content_type)  # fmt: skip
        pieces = await self.run(
            chunking.split,
            extracted.text,
            markdown=extracted.format == "markdown",
            chunk_size=collection.chunk_size,
            chunk_overlap=collection.chunk_overlap,
        )
        pieces, vectors = await self._embed_pieces(collection, model, pieces)
        document = NewDocument(
            source=source, format=extracted.format, sha256=digest, bytes=len(data)
        )
        stored = await self.run(self.store.replace_document, collection, document, pieces, vectors)
        seconds = time.perf_counter() - started
        self.metrics.ingested_documents.inc()
        self.metrics.ingested_chunks.inc(len(pieces))
        self.metrics.ingest_seconds.observe(seconds)
        logger.info("ingested %s into %s: %d chunks in %.2f s", source, name, len(pieces), seconds,
                    extra={"collection": name, "chunks": len(pieces)})  # fmt: skip
        return stored, "created" if existing is None else "replaced"

    async def delete_document(self, name: str, source: str) -> None:
        self._check_writable()
        collection = await self.collection(name)
        await self.run(self.store.delete_document, collection, source)

    async def _embed_pieces(
        self, collection: Collection, model: str, pieces: Sequence[Piece]
    ) -> tuple[list[Piece], Vectors]:
        kept: list[Piece] = []
        rows: list[Vectors] = []
        batch = self.settings.embed_batch
        for first in range(0, len(pieces), batch):
            for piece, vector in await self._embed_fitting(model, pieces[first : first + batch]):
                kept.append(piece)
                rows.append(vector)
        vectors = np.stack(rows) if rows else np.zeros((0, collection.dimension), np.float32)
        if vectors.shape[1] != collection.dimension:
            raise self.model_changed(collection, model, int(vectors.shape[1]))
        return kept, vectors

    async def _embed_fitting(
        self, model: str, pieces: Sequence[Piece]
    ) -> list[tuple[Piece, Vectors]]:
        """Embeddings of ``pieces``; a piece the model refuses as beyond its window is split
        (``chunking.split_further``) until its parts fit."""
        if not pieces:
            return []
        started = time.perf_counter()
        try:
            vectors = await self.gateway.embed(model, [piece.text for piece in pieces])
        except InputTooLong as exc:
            if len(pieces) == 1:
                try:
                    parts = chunking.split_further(pieces[0])
                except ValueError:
                    parts = []
                if len(parts) < 2:
                    raise ChunkTooLong(
                        f"the embedding model refuses even {len(pieces[0].text)} characters: "
                        f"{exc.message}",
                        param="body",
                    ) from exc
                return await self._embed_fitting(model, parts)
            cut = exc.index if exc.index is not None else len(pieces) // 2
            if exc.index is not None:
                before, refused, after = pieces[:cut], pieces[cut : cut + 1], pieces[cut + 1 :]
                return (
                    await self._embed_fitting(model, before)
                    + await self._embed_fitting(model, refused)
                    + await self._embed_fitting(model, after)
                )
            return await self._embed_fitting(model, pieces[:cut]) + await self._embed_fitting(
                model, pieces[cut:]
            )
        self.metrics.embed_seconds.labels("ingest").observe(time.perf_counter() - started)
        return list(zip(pieces, vectors, strict=True))

    # Search.

    async def search(
        self, name: str, query: str, *, k: int | None = None, min_score: float | None = None
    ) -> Found:
        """The ``k`` chunks nearest to ``query``; raises 400 for an empty or long query, 404,
        409 (model changed)."""
        collection = await self.collection(name)
        vectors = await self.embed_queries(collection, [query])
        hits = await self.nearest(collection, vectors[0], k)
        return Found(collection, query, hits, self.threshold(collection, min_score))

    async def embed_queries(
        self, collection: Collection, queries: Sequence[str], *, param: str = "query"
    ) -> Vectors:
        model = await self.embedding_model()
        self.check_model(collection, model)
        started = time.perf_counter()
        try:
            vectors = await self.gateway.embed(model, list(queries))
        except InputTooLong as exc:
            raise InvalidRequest(
                f"the question is longer than the embedding model's window: {exc.message}",
                param=param,
            ) from exc
        self.metrics.embed_seconds.labels("query").observe(time.perf_counter() - started)
        if vectors.shape[1] != collection.dimension:
            raise self.model_changed(collection, model, int(vectors.shape[1]))
        return vectors

    async def nearest(self, collection: Collection, vector: Vectors, k: int | None) -> list[Hit]:
        started = time.perf_counter()
        hits = await self.run(self.store.search, collection, vector, self.top_k(k))
        self.metrics.search_seconds.observe(time.perf_counter() - started)
        return hits

    def top_k(self, k: int | None) -> int:
        if k is None:
            return self.settings.top_k
        if not 1 <= k <= self.settings.max_top_k:
            raise InvalidRequest(
                f"k is {k}; it must be between 1 and {self.settings.max_top_k} "
                "(LIFTOFF_RAG_MAX_TOP_K)",
                param="k",
            )
        return k

    @staticmethod
    def threshold(collection: Collection, min_score: float | None) -> float:
        return collection.min_score if min_score is None else min_score

    def check_query(self, query: str, *, param: str) -> str:
        """``query`` stripped; 400 when empty or longer than LIFTOFF_RAG_MAX_QUERY_CHARS."""
        query = query.strip()
        if not query:
            raise InvalidRequest(f"{param} is empty: ask a question", param=param)
        if len(query) > self.settings.max_query_chars:
            raise InvalidRequest(
                f"{param} has {len(query)} characters, over this service's limit of "
                f"{self.settings.max_query_chars} (LIFTOFF_RAG_MAX_QUERY_CHARS)",
                param=param,
            )
        return query

    # Rules.

    def check_model(self, collection: Collection, model: str) -> None:
        if collection.embedding_model != model:
            raise self.model_changed(collection, model, None)

    @staticmethod
    def model_changed(
        collection: Collection, model: str, dimension: int | None
    ) -> EmbeddingModelChanged:
        now = f"{model!r}" + (f" ({dimension} dimensions)" if dimension is not None else "")
        return EmbeddingModelChanged(
            f"collection {collection.name!r} was embedded with {collection.embedding_model!r} "
            f"({collection.dimension} dimensions) but this service now embeds with {now}: its "
            "vectors cannot be compared. Delete the collection and ingest its documents again, "
            f"or set LIFTOFF_RAG_EMBEDDING_MODEL={collection.embedding_model}"
        )

    def _check_writable(self) -> None:
        if self.settings.read_only:
            raise ReadOnly(
                "this retrieval service serves a read-only index (LIFTOFF_RAG_READ_ONLY): "
                "ingest where the index is built, then ship the file"
            )


def check_source(source: str) -> str:
    """A document's source id: a relative, path-like name; raises ``InvalidRequest``."""
    if not source or len(source) > MAX_SOURCE_CHARS:
        raise InvalidRequest(f"the source must be 1-{MAX_SOURCE_CHARS} characters", param="source")
    if any(ord(ch) < 32 or ch == "\x7f" for ch in source):
        raise InvalidRequest("the source must not hold control characters", param="source")
    return source
