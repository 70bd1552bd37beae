"""llama.cpp's own OpenAI-compatible server (started by xllamacpp) as a separate process.

Tests use it as a real OpenAI-compatible backend, and kill it to test failures::

    python -m tests.llama_server MODEL.gguf PORT [--alias NAME] [--template FILE.jinja]

serves on http://127.0.0.1:PORT; ``--template`` renders chats with that jinja template, as
llama-server's ``--jinja --chat-template-file`` does (otherwise Gemma's built-in turns).
    python -m tests.llama_server EMBEDDING_MODEL.gguf PORT --embedding   # an embedding server
"""

from __future__ import annotations

import argparse
import re
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from liftoff.server.processes import LOOPBACK, ServiceProcess, free_port
from tests.servers import REPO

# An embedding model's server as docs/embeddings.md tells operators to start one: llama.cpp's
# `llama-server -m all-minilm-l6-v2.gguf --embedding --parallel 1 -c 256 -b 256 -ub 256`.
EMBEDDING_WINDOW = 256


def main(
    gguf: str,
    port: int,
    alias: str | None = None,
    template_file: str | None = None,
    *,
    embedding: bool = False,
) -> None:
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = gguf
    params.port = port
    if alias:
        params.model_alias = {alias}  # the model id it serves and lists
    params.verbosity = 0
    if embedding:
        params.embedding = True  # pooling: the GGUF's own
        params.n_parallel = 1
        params.n_ctx = params.n_batch = params.n_ubatch = EMBEDDING_WINDOW
        _serve(xllamacpp.Server(params))
        return

    params.use_jinja = template_file is not None
    params.chat_template = Path(template_file).read_text() if template_file else "gemma"
    params.endpoint_metrics = True
    # /v1/embeddings too, configured as docs/embeddings.md tells operators: one slot, so that
    # each input is embedded alone (with two, llama.cpp puts a request's inputs in one batch
    # and a causal model's vectors then depend on their neighbours: up to 0.15 for Gemma 3
    # 270M), and a micro-batch as large as the window, so that every input up to the
    # window fits in one (an input beyond n_ubatch is llama.cpp's HTTP 500). 1024 tokens:
    # room for the tool instructions the gateway adds to a chat.
    params.n_parallel = 1
    params.n_ctx = params.n_batch = params.n_ubatch = 1024
    params.embedding = True
    params.pooling_type = xllamacpp.llama_pooling_type.LLAMA_POOLING_TYPE_MEAN
    _serve(xllamacpp.Server(params))


def _serve(server: Any) -> None:
    print(f"listening {server.listening_address}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()


class LlamaServer:
    """Starts ``main`` in a subprocess through the package's harness; ``url`` is its OpenAI
    base URL. ``embedding``: an embedding model's server, configured as operators are told."""

    def __init__(
        self,
        gguf: str,
        *,
        alias: str | None = None,
        template_file: str | None = None,
        embedding: bool = False,
    ) -> None:
        port = free_port()
        self.base = f"http://{LOOPBACK}:{port}"
        options = [*(["--alias", alias] if alias else []),
                   *(["--template", template_file] if template_file else []),
                   *(["--embedding"] if embedding else [])]  # fmt: skip
        self.service = ServiceProcess(
            [sys.executable, "-m", "tests.llama_server", gguf, str(port), *options],
            health_url=f"{self.base}/health",
            name="llama.cpp server",
            cwd=REPO,
        )

    @property
    def url(self) -> str:
        return f"{self.base}/v1"

    def __enter__(self) -> LlamaServer:
        self.service.__enter__()
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
        """SIGKILL, as a crash would."""
        self.service.kill()

    def __exit__(self, *exc_info: object) -> None:
        self.service.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("gguf")
    parser.add_argument("port", type=int)
    parser.add_argument("--alias")
    parser.add_argument("--template")
    parser.add_argument("--embedding", action="store_true")
    args = parser.parse_args()
    main(args.gguf, args.port, args.alias, args.template, embedding=args.embedding)
