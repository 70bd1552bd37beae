"""llama.cpp's own OpenAI-compatible server (started by xllamacpp) as a separate process.

Tests use it as a real OpenAI-compatible backend, and kill it to test failures::

    python -m tests.llama_server MODEL.gguf   # prints "listening http://127.0.0.1:PORT"
    python -m tests.llama_server EMBEDDING_MODEL.gguf --embedding   # an embedding server
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import httpx

from tests.servers import REPO

# An embedding model's server as docs/embeddings.md tells operators to start one: llama.cpp's
# `llama-server -m all-minilm-l6-v2.gguf --embedding --parallel 1 -c 256 -b 256 -ub 256`.
EMBEDDING_WINDOW = 256


def main(gguf: str, embedding: bool = False) -> None:
    import xllamacpp

    params = xllamacpp.CommonParams()
    if embedding:
        params.model.path = gguf
        params.embedding = True  # pooling: the GGUF's own
        params.n_parallel = 1
        params.n_ctx = params.n_batch = params.n_ubatch = EMBEDDING_WINDOW
        params.verbosity = 0
        _serve(xllamacpp.Server(params))
        return

    params.model.path = gguf
    params.use_jinja = False
    params.chat_template = "gemma"
    params.endpoint_metrics = True
    # /v1/embeddings too, configured as docs/embeddings.md tells operators: one slot, so that
    # each input is embedded alone (with two, llama.cpp puts a request's inputs in one batch
    # and a causal model's vectors then depend on their neighbours: up to 0.15 for Gemma 3
    # 270M), and a micro-batch as large as the window, so that every input up to the
    # window fits in one (an input beyond n_ubatch is llama.cpp's HTTP 500).
    params.n_parallel = 1
    params.n_ctx = params.n_batch = params.n_ubatch = 512
    params.embedding = True
    params.pooling_type = xllamacpp.llama_pooling_type.LLAMA_POOLING_TYPE_MEAN
    params.verbosity = 0
    _serve(xllamacpp.Server(params))


def _serve(server: Any) -> None:
    print(f"listening {server.listening_address}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()


class LlamaServer:
    """Starts ``main`` in a subprocess; ``url`` is its OpenAI base URL."""

    def __init__(self, gguf: str, *, embedding: bool = False) -> None:
        self.gguf = gguf
        self.embedding = embedding
        self.process: subprocess.Popen[str] | None = None
        self.base = ""

    @property
    def url(self) -> str:
        return f"{self.base}/v1"

    def __enter__(self) -> LlamaServer:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.llama_server", self.gguf,
             *(["--embedding"] if self.embedding else [])],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        found = re.search(r"listening (http://\S+)", line)
        if found is None:
            self.kill()
            raise RuntimeError(f"llama.cpp server did not start: {line!r}")
        self.base = found.group(1)
        return self

    def requests_processing(self) -> int:
        metrics = httpx.get(f"{self.base}/metrics", timeout=5).text
        found = re.search(r"^llamacpp:requests_processing (\d+)", metrics, re.MULTILINE)
        return int(found.group(1)) if found else -1

    def wait_idle(self, timeout: float) -> float:
        """Seconds until no request is processing; raises if it takes longer than ``timeout``."""
        started = time.monotonic()
        while self.requests_processing() != 0:
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"llama.cpp still processing after {timeout} s")
            time.sleep(0.05)
        return time.monotonic() - started

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if self.process is not None and self.process.stdout is not None:
            self.process.stdout.close()

    def __exit__(self, *exc_info: object) -> None:
        self.kill()


if __name__ == "__main__":
    main(sys.argv[1], embedding="--embedding" in sys.argv[2:])
