"""``liftoff doctor``: one pass/fail line per check, a fix for each failure, exit 1 on failure."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.fakes.ollama_server import FakeOllama
from tests.servers import REPO, free_port


def _doctor(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LIFTOFF_")}
    return subprocess.run(
        [sys.executable, "-m", "liftoff", "doctor"],
        cwd=REPO, env={**clean, "COLUMNS": "200", **env}, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip


def test_doctor_passes_with_the_embedded_model(gguf_path: Path) -> None:
    result = _doctor(LIFTOFF_CACHE_DIR=str(gguf_path.parent), LIFTOFF_PORT=str(free_port()))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASS  llamacpp backend: ready" in result.stdout
    assert "PASS  settings: backend llamacpp" in result.stdout
    assert "GPU" in result.stdout


def test_doctor_fails_with_a_fix_when_the_gguf_is_missing(tmp_path: Path) -> None:
    result = _doctor(LIFTOFF_MODEL=str(tmp_path / "missing.gguf"))
    assert result.returncode == 1
    assert "FAIL  llamacpp backend:" in result.stdout
    assert "is not a GGUF file" in result.stdout
    assert "fix: set LIFTOFF_MODEL (or LIFTOFF_EMBEDDING_MODEL) to a GGUF file" in result.stdout


def test_doctor_names_unreachable_ollama_and_how_to_fix_it() -> None:
    port = free_port()
    result = _doctor(LIFTOFF_BACKEND="ollama", OLLAMA_HOST=f"127.0.0.1:{port}")
    assert result.returncode == 1
    assert "FAIL  ollama backend:" in result.stdout
    assert f"fix: start Ollama at http://127.0.0.1:{port}" in result.stdout


def test_doctor_reports_bad_settings_without_a_traceback() -> None:
    result = _doctor(LIFTOFF_BACKEND="tgi")
    assert result.returncode == 1
    assert "FAIL  settings: LIFTOFF_BACKEND:" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_doctor_finds_the_model_in_ollama_without_pulling_it(fake_ollama: FakeOllama) -> None:
    result = _doctor(LIFTOFF_BACKEND="ollama", OLLAMA_HOST=fake_ollama.url,
                     LIFTOFF_PORT=str(free_port()))  # fmt: skip
    assert "PASS  ollama backend: ready; model llama3.1:8b present" in result.stdout
    missing = _doctor(LIFTOFF_BACKEND="ollama", OLLAMA_HOST=fake_ollama.url,
                      LIFTOFF_MODEL="mistral:7b")  # fmt: skip
    assert missing.returncode == 1
    assert "FAIL  ollama backend: model mistral:7b is not in Ollama yet" in missing.stdout
    assert "liftoff pull mistral:7b" in missing.stdout
    assert fake_ollama.bodies("/api/pull") == []
