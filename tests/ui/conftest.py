"""The chat UI's test stack: real gateways, the UI as a uvicorn process, a real Chromium.

Two OpenAI-compatible servers feed the model picker: the gateway serving the real embedded
Gemma model (``LIFTOFF_UI_GATEWAY_URL``), and a second gateway, on the Ollama backend over
the FAKE Ollama server (tests/fakes), on ``LIFTOFF_UI_RETRIEVAL_URL``: it stands in for the
retrieval service, which does not exist yet, as any second OpenAI-compatible server would.
Its "model" answers the words of the question backwards, so a test can tell who answered.

Chainlit is never imported into the pytest process: importing it writes files into the
working directory. Everything touching it runs in the UI's own process.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.ollama_server import FakeOllama
from tests.servers import ServerProcess


def ui_env(data_dir: Path, gateway: str, **extra: str) -> dict[str, str]:
    return {
        "LIFTOFF_UI_DATA_DIR": str(data_dir),
        "LIFTOFF_UI_GATEWAY_URL": gateway,
        "LIFTOFF_UI_GATEWAY_API_KEY": "",
        "LIFTOFF_UI_RETRIEVAL_URL": "",
        "LIFTOFF_UI_USERS": "",
        "LIFTOFF_UI_AUTH_HEADER": "",
        "LIFTOFF_LOG_FORMAT": "text",
        **extra,
    }


@pytest.fixture(scope="module")
def gemma_gateway(gguf_path: Path) -> Iterator[ServerProcess]:
    """The gateway on the embedded engine with the packaged Gemma 3 270M."""
    env = {"LIFTOFF_BACKEND": "llamacpp", "LIFTOFF_MODEL": str(gguf_path), "LIFTOFF_API_KEYS": ""}
    with ServerProcess("liftoff.api.main:app", env) as server:
        yield server


@pytest.fixture(scope="module")
def ollama_gateway(shared_fake_ollama: FakeOllama) -> Iterator[ServerProcess]:
    """A second gateway, on the Ollama backend over the fake Ollama (``llama3.1:8b``)."""
    env = {"LIFTOFF_BACKEND": "ollama", "OLLAMA_HOST": shared_fake_ollama.url,
           "LIFTOFF_API_KEYS": ""}  # fmt: skip
    with ServerProcess("liftoff.api.main:app", env) as server:
        yield server
