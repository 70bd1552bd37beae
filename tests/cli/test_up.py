"""``liftoff up`` (what ``make run`` runs): the stack starts, answers, and stops on Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from tests.servers import REPO, free_port


def _wait_for_output(log: Path, text: str, process: subprocess.Popen[bytes], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        output = log.read_text(errors="replace")
        if text in output:
            return output
        if process.poll() is not None:
            raise AssertionError(f"liftoff up exited early:\n{output}")
        time.sleep(0.2)
    raise AssertionError(f"{text!r} not printed in {timeout} s:\n{log.read_text()}")


def test_up_serves_the_embedded_model_and_stops_cleanly_on_ctrl_c(gguf_path: Path) -> None:
    api_port, evaluation_port, retrieval_port, ui_port = (free_port() for _ in range(4))
    env = {**os.environ, "LIFTOFF_CACHE_DIR": str(gguf_path.parent), "COLUMNS": "200",
           "LIFTOFF_RAG_STORE": str(Path(tempfile.mkdtemp()) / "rag.sqlite3")}  # fmt: skip
    env.pop("LIFTOFF_MODEL", None)
    with tempfile.NamedTemporaryFile(suffix=".log") as log_file:
        log = Path(log_file.name)
        process = subprocess.Popen(
            [sys.executable, "-m", "liftoff", "up", "--api-port", str(api_port),
             "--evaluation-port", str(evaluation_port), "--retrieval-port", str(retrieval_port),
             "--ui-port", str(ui_port)],
            cwd=REPO, env=env, stdout=log_file, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            output = _wait_for_output(log, "Press Ctrl-C to stop.", process, timeout=120)
            assert f"http://127.0.0.1:{api_port}" in output
            assert f"chat UI         http://127.0.0.1:{ui_port}" in output
            assert "base (pretrained) model" in output
            # Logs read as text at a terminal, not JSON.
            served = "gemma-3-270m-q4_k_m, all-minilm-l6-v2"
            assert f"INFO     api: serving {served} via the llamacpp backend" in output
            answer = httpx.post(
                f"http://127.0.0.1:{api_port}/v1/chat/completions",
                json={"model": "gemma-3-270m-q4_k_m", "max_tokens": 5,
                      "messages": [{"role": "user", "content": "Hello"}]},
                timeout=60,
            )  # fmt: skip
            assert answer.status_code == 200
            assert answer.json()["choices"][0]["message"]["content"]
            assert f"http://127.0.0.1:{retrieval_port}" in output
            ready = httpx.get(f"http://127.0.0.1:{retrieval_port}/readyz", timeout=30)
            assert ready.status_code == 200, ready.text
            # The chat UI runs beside them.
            ui = httpx.get(f"http://127.0.0.1:{ui_port}/readyz", timeout=10)
            assert ui.status_code == 200 and ui.json()["service"] == "liftoff-ui"
        finally:
            process.send_signal(signal.SIGINT)
            code = process.wait(timeout=30)
        assert code == 0
        assert "Stopping..." in log.read_text()
    # Nothing is left listening after Ctrl-C.
    try:
        httpx.get(f"http://127.0.0.1:{api_port}/healthz", timeout=1)
        raise AssertionError("the API still answers after liftoff up stopped")
    except httpx.TransportError:
        pass
