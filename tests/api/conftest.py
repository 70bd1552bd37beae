"""A real gateway for the API tests: uvicorn in a subprocess, embedded Gemma model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from liftoff.api.model_files import served_model_id
from tests.servers import ServerProcess


@pytest.fixture(scope="session")
def gateway(gguf_path: Path) -> Iterator[ServerProcess]:
    env = {
        "LIFTOFF_BACKEND": "llamacpp",
        "LIFTOFF_MODEL": str(gguf_path),
        "LIFTOFF_CONTEXT_SIZE": "512",
        "LIFTOFF_PARALLEL": "2",
    }
    with ServerProcess("liftoff.api.main:app", env) as server:
        yield server


@pytest.fixture(scope="session")
def model_id(gguf_path: Path) -> str:
    return served_model_id(gguf_path)


@pytest.fixture(scope="session")
def embedding_model_id(embedding_gguf_path: Path) -> str:
    """all-minilm-l6-v2: the packaged embedding model the gateway serves beside Gemma."""
    return served_model_id(embedding_gguf_path)
