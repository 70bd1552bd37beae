"""Fixtures shared by every test package."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from api.model_files import packaged_gguf

# The fake Ollama server's fixtures (fake_ollama, fake_ollama_down), for every test package.
pytest_plugins = ["tests.fakes.ollama_server"]


@pytest.fixture(scope="session")
def gguf_path() -> Path:
    """The packaged Gemma 3 270M GGUF, assembled once into the user's model cache."""
    cache = Path(os.environ.get("LIFTOFF_CACHE_DIR", Path.home() / ".cache" / "liftoff"))
    return packaged_gguf(cache)
