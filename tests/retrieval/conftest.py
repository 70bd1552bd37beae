"""Real parts for the retrieval tests: the gateway serving the embedded models (Gemma 3 270M and
all-MiniLM-L6-v2, with an API key, so every test proves the service forwards its own), Postgres
18 with pgvector (the suite's one Postgres: ``tests/postgres.py``), and the retrieval service as
uvicorn processes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.postgres import fresh_database as shared_fresh_database
from tests.servers import ServerProcess

GATEWAY_KEY = "sk-gateway-for-retrieval-tests"
STORES = ["sqlite", "postgres"]


@pytest.fixture(scope="package")
def gateway(gguf_path: Path) -> Iterator[ServerProcess]:
    env = {
        "LIFTOFF_MODEL": str(gguf_path),
        "LIFTOFF_API_KEYS": GATEWAY_KEY,
        "LIFTOFF_METRICS_PUBLIC": "true",
        "LIFTOFF_LOG_LEVEL": "WARNING",
    }
    with ServerProcess("liftoff.api.main:app", env) as server:
        yield server


def fresh_database(postgres_url: str) -> str:
    """A new, empty database on the suite's one Postgres (``postgres``, ``tests/postgres.py``)."""
    return shared_fresh_database(postgres_url, "rag")


def store_env(kind: str, tmp_path: Path, postgres_url: str | None) -> dict[str, str]:
    """Environment naming a fresh store of ``kind``."""
    if kind == "sqlite":
        return {"LIFTOFF_RAG_STORE": str(tmp_path / f"rag-{uuid.uuid4().hex[:8]}.sqlite3")}
    assert postgres_url is not None
    return {"LIFTOFF_RAG_DATABASE_URL": fresh_database(postgres_url)}


def rag_env(gateway: ServerProcess, store: dict[str, str], **extra: str) -> dict[str, str]:
    return {
        "LIFTOFF_RAG_GATEWAY_URL": f"{gateway.url}/v1",
        "LIFTOFF_RAG_GATEWAY_API_KEY": GATEWAY_KEY,
        "LIFTOFF_RAG_LOG_LEVEL": "WARNING",
        **store,
        **extra,
    }
