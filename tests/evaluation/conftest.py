"""Fixtures for the evaluation tests."""

from __future__ import annotations

from typing import Any

import pytest

from liftoff.evaluation.wordnet import load_wordnet


@pytest.fixture(scope="session")
def wordnet() -> Any:
    """NLTK's WordNet 3.0 reader, provisioned like ``make test`` does (fails with the fix)."""
    return load_wordnet()
