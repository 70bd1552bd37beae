"""llama.cpp's own OpenAI-compatible server (started by xllamacpp) as a separate process.

Tests use it as a real OpenAI-compatible backend, and kill it to test failures::

    python -m tests.llama_server MODEL.gguf PORT [ALIAS]   # serves on http://127.0.0.1:PORT
"""

from __future__ import annotations

import re
import signal
import sys
import threading
import time

import httpx

from liftoff.server.processes import LOOPBACK, ServiceProcess, free_port
from tests.servers import REPO


def main(gguf: str, port: int, alias: str | None = None) -> None:
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = gguf
    params.port = port
    if alias:
        params.model_alias = {alias}  # the model id it serves and lists
    params.n_ctx = 1024
    params.n_parallel = 2
    params.use_jinja = False
    params.chat_template = "gemma"
    params.endpoint_metrics = True
    # /v1/embeddings too, pooled as the embedded backend pools them.
    params.embedding = True
    params.pooling_type = xllamacpp.llama_pooling_type.LLAMA_POOLING_TYPE_MEAN
    params.verbosity = 0
    server = xllamacpp.Server(params)
    print(f"listening {server.listening_address}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()


class LlamaServer:
    """Starts ``main`` in a subprocess through the package's harness; ``url`` is its OpenAI
    base URL."""

    def __init__(self, gguf: str, *, alias: str | None = None) -> None:
        port = free_port()
        self.base = f"http://{LOOPBACK}:{port}"
        self.service = ServiceProcess(
            [sys.executable, "-m", "tests.llama_server", gguf, str(port), *filter(None, [alias])],
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
    main(sys.argv[1], int(sys.argv[2]), *sys.argv[3:])
