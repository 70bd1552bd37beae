"""Fixtures shared by every test package."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from liftoff.api.model_files import packaged_embedding_gguf, packaged_gguf

# Fakes of what cannot run here, as fixtures for every test package: fake_ollama,
# fake_ollama_down (Ollama's HTTP API), fake_metadata (GCP's metadata server) and fake_gemini
# (the Gemini API, Vertex AI and Google's OAuth token endpoint).
pytest_plugins = [
    "tests.fakes.ollama_server",
    "tests.fakes.metadata_server",
    "tests.fakes.gemini_server",
]


def _cache() -> Path:
    return Path(os.environ.get("LIFTOFF_CACHE_DIR", Path.home() / ".cache" / "liftoff"))


@pytest.fixture(scope="session")
def gguf_path() -> Path:
    """The packaged Gemma 3 270M GGUF, assembled once into the user's model cache."""
    return packaged_gguf(_cache())


@pytest.fixture(scope="session")
def embedding_gguf_path() -> Path:
    """The packaged all-MiniLM-L6-v2, converted once to GGUF in the user's model cache."""
    return packaged_embedding_gguf(_cache())
