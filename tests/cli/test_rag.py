"""``liftoff rag ingest``: a folder into a real retrieval service (and gateway), with progress,
per-file refusals, and exit codes 0 / 1 / 2."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.servers import REPO, ServerProcess, free_port


def liftoff(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "liftoff", *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def rag(gguf_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    store = tmp_path_factory.mktemp("rag") / "rag.sqlite3"
    with ServerProcess("liftoff.api.main:app", {"LIFTOFF_MODEL": str(gguf_path)}) as gateway:
        env = {"LIFTOFF_RAG_GATEWAY_URL": f"{gateway.url}/v1", "LIFTOFF_RAG_STORE": str(store)}
        with ServerProcess("liftoff.retrieval.main:app", env) as service:
            yield service


@pytest.mark.model
def test_ingest_a_folder_then_again_only_what_changed(rag: ServerProcess, tmp_path: Path) -> None:
    (tmp_path / "guide").mkdir()
    (tmp_path / "guide" / "setup.md").write_text("# Setup\n\nRun make run to start the stack.")
    (tmp_path / "notes.txt").write_text("The retrieval service listens on port 8002.")
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "picture.png").write_bytes(b"\x89PNG not a document")  # not sent: not a format
    (tmp_path / ".hidden.md").write_text("never sent")

    first = liftoff("rag", "ingest", str(tmp_path), "--collection", "handbook",
                    "--url", rag.url, "--chunk-size", "400")  # fmt: skip
    assert first.returncode == 1, first.stderr  # one file refused
    assert "created collection handbook" in first.stdout
    assert "handbook: 2 created, 1 refused" in first.stdout
    assert "refused empty.txt: empty.txt is empty" in first.stderr
    assert "3/3" in first.stderr  # the progress bar counted every file sent
    documents = httpx.get(f"{rag.url}/v1/collections/handbook/documents").json()["data"]
    assert [d["source"] for d in documents] == ["guide/setup.md", "notes.txt"]
    assert httpx.get(f"{rag.url}/v1/collections/handbook").json()["chunk_size"] == 400

    (tmp_path / "notes.txt").write_text("The retrieval service listens on port 8002 by default.")
    (tmp_path / "empty.txt").unlink()
    second = liftoff("rag", "ingest", str(tmp_path), "--collection", "handbook", "--url", rag.url)
    assert second.returncode == 0, second.stderr
    assert "handbook: 1 replaced, 1 unchanged" in second.stdout

    changed = liftoff("rag", "ingest", str(tmp_path), "--collection", "handbook",
                      "--url", rag.url, "--chunk-size", "800")  # fmt: skip
    assert changed.returncode == 2
    assert "chunk_size is 400" in changed.stderr


def test_a_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    result = liftoff("rag", "ingest", str(tmp_path / "nope"), "--collection", "c")
    assert result.returncode == 2
    assert "does not exist" in result.stderr


def test_an_unreachable_service_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("text")
    url = f"http://127.0.0.1:{free_port()}"
    result = liftoff("rag", "ingest", str(tmp_path), "--collection", "c", "--url", url)
    assert result.returncode == 2
    assert "cannot reach the retrieval service" in result.stderr
