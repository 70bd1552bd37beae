"""Fixtures for the evaluation tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from liftoff.evaluation.runs.store import RunStore
from liftoff.evaluation.runs.store.postgres import PostgresRunStore
from liftoff.evaluation.runs.store.sqlite import SQLiteRunStore
from liftoff.evaluation.wordnet import load_wordnet
from tests.postgres import fresh_database

STORES = ["sqlite", "postgres"]
Opener = Callable[[], Awaitable[RunStore]]


@pytest.fixture(scope="session")
def wordnet() -> Any:
    """NLTK's WordNet 3.0 reader, provisioned like ``make test`` does (fails with the fix)."""
    return load_wordnet()


def store_location(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """Where a new, empty store of ``kind`` is: a SQLite file in a directory that does not
    exist yet, or the URL of a fresh database on the session's real Postgres."""
    if kind == "sqlite":
        return str(tmp_path / "nested" / "runs.sqlite3")
    return fresh_database(request.getfixturevalue("postgres"), "eval")


async def open_location(location: str) -> RunStore:
    if location.startswith("postgresql://"):
        return await PostgresRunStore.open(location, pool_size=4)
    return await SQLiteRunStore.open(Path(location))


@pytest.fixture(params=STORES)
def store_kind(request: pytest.FixtureRequest) -> str:
    """Each kind of store: a test that takes it (or ``store``) runs against both."""
    kind: str = request.param
    return kind


@pytest.fixture
def location(store_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """Where one new store is: a SQLite path or a Postgres URL."""
    return store_location(store_kind, tmp_path, request)


@pytest.fixture
def opener(location: str) -> Opener:
    """Opens a handle on that store (each with its own connections, as another process's)."""
    return lambda: open_location(location)


@pytest.fixture
async def store(opener: Opener) -> AsyncIterator[RunStore]:
    """A new run store, SQLite and Postgres in turn."""
    runs = await opener()
    yield runs
    await runs.close()
