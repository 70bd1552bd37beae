"""Fixtures shared by every test package."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from liftoff.api.model_files import packaged_gguf

# Fakes of what cannot run here, as fixtures for every test package: fake_ollama,
# fake_ollama_down (Ollama's HTTP API) and fake_metadata (GCP's metadata server); and real
# servers: Postgres (``postgres``, one per session) and Redis (``redis_server``, one per test).
pytest_plugins = [
    "tests.fakes.ollama_server",
    "tests.fakes.metadata_server",
    "tests.postgres",
    "tests.redis",
]


@pytest.fixture(scope="session")
def gguf_path() -> Path:
    """The packaged Gemma 3 270M GGUF, assembled once into the user's model cache."""
    cache = Path(os.environ.get("LIFTOFF_CACHE_DIR", Path.home() / ".cache" / "liftoff"))
    return packaged_gguf(cache)
