"""``liftoff pull``: progress from Ollama's pull stream, and a clear failure."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.fakes.ollama_server import FakeModel, FakeOllama
from tests.servers import REPO


def _pull(model: str, host: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "liftoff", "pull", model, "--host", host],
        cwd=REPO, env={**os.environ, "COLUMNS": "200"}, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip


def test_pull_downloads_a_model_with_progress(fake_ollama: FakeOllama) -> None:
    fake_ollama.add_model(FakeModel("qwen2.5:0.5b", size=397_821_319), pulled=False)
    result = _pull("qwen2.5:0.5b", fake_ollama.url)
    assert result.returncode == 0, result.stderr
    assert "pulling manifest" in result.stderr
    assert "pulled qwen2.5:0.5b" in result.stderr
    assert "qwen2.5:0.5b" in fake_ollama.models


def test_pull_of_an_unknown_model_fails_with_ollamas_message(fake_ollama: FakeOllama) -> None:
    result = _pull("no-such-model:1b", fake_ollama.url)
    assert result.returncode == 1
    assert "pull failed: no-such-model:1b:" in result.stderr
    assert "Traceback" not in result.stderr


def test_pull_without_ollama_says_how_to_start_it(fake_ollama_down: FakeOllama) -> None:
    result = _pull("llama3.1:8b", fake_ollama_down.url)
    assert result.returncode == 1
    assert "cannot reach Ollama" in result.stderr
    assert "ollama serve" in result.stderr
