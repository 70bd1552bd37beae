"""Prometheus metrics of the retrieval service (``GET /metrics``).

Request ids, the access log and request metrics come from the shared layer
(``liftoff.server.observability``); this adds ingestion, embedding, search and answers.
Never a key, never a question, a document or an answer.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from liftoff.server.observability import LATENCY_BUCKETS, RequestMetrics

_FAST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class RetrievalMetrics:
    """Every metric of one app, in a registry of its own (several apps in one test process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.http = RequestMetrics(r, "liftoff_rag")
        self.ingested_documents = Counter(
            "liftoff_rag_ingested_documents", "Documents ingested (new or changed)", registry=r
        )
        self.ingested_chunks = Counter(
            "liftoff_rag_ingested_chunks", "Chunks embedded and stored", registry=r
        )
        self.ingest_seconds = Histogram(
            "liftoff_rag_ingest_duration_seconds", "Time to ingest one document",
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.embed_seconds = Histogram(
            "liftoff_rag_embedding_duration_seconds", "Time the gateway took to embed a batch",
            ["purpose"], buckets=_FAST_BUCKETS, registry=r,
        )  # fmt: skip
        self.search_seconds = Histogram(
            "liftoff_rag_search_duration_seconds", "Time the store took to find the nearest chunks",
            buckets=_FAST_BUCKETS, registry=r,
        )  # fmt: skip
        self.answers = Counter(
            "liftoff_rag_answers", "Questions answered through rag: models, by outcome "
            "(answered, dont_know: nothing passed the similarity threshold)",
            ["outcome"], registry=r,
        )  # fmt: skip
