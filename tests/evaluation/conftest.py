"""Fixtures for the evaluation tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from liftoff.evaluation.runs.store.sqlite import SQLiteRunStore
from liftoff.evaluation.wordnet import load_wordnet


@pytest.fixture(scope="session")
def wordnet() -> Any:
    """NLTK's WordNet 3.0 reader, provisioned like ``make test`` does (fails with the fix)."""
    return load_wordnet()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteRunStore]:
    """A run store in a new SQLite file (and a directory that did not exist)."""
    runs = await SQLiteRunStore.open(tmp_path / "nested" / "runs.sqlite3")
    yield runs
    await runs.close()
