"""SIGTERM: readiness drops first, short streams finish, long ones end with an in-stream error."""

from __future__ import annotations

import json
import signal
import threading
import time

import httpx

from tests.fakes.ollama_server import DEFAULT_MODEL, FakeOllama
from tests.servers import ServerProcess


def _stream_lines(url: str, tokens: int, into: list[str]) -> None:
    body = {"model": DEFAULT_MODEL, "messages": [{"role": "user", "content": "a b c d e"}],
            "options": {"num_predict": tokens}}  # fmt: skip
    with httpx.stream("POST", f"{url}/api/chat", json=body, timeout=30) as response:
        into.extend(response.iter_lines())


def test_sigterm_drains_then_ends_long_streams_cleanly(fake_ollama: FakeOllama) -> None:
    fake_ollama.token_delay = 0.1
    fake_ollama.reply_tokens = 1000  # the fake model talks until num_predict stops it
    env = {
        "LIFTOFF_BACKEND": "ollama",
        "OLLAMA_HOST": fake_ollama.url,
        "LIFTOFF_SHUTDOWN_DRAIN_SECONDS": "1",
        "LIFTOFF_SHUTDOWN_GRACE_SECONDS": "2",
    }
    with ServerProcess("liftoff.api.main:app", env) as gateway:
        short: list[str] = []
        long: list[str] = []
        threads = [
            threading.Thread(target=_stream_lines, args=(gateway.url, 8, short)),
            threading.Thread(target=_stream_lines, args=(gateway.url, 200, long)),
        ]
        for thread in threads:
            thread.start()
        time.sleep(0.5)  # both streams under way
        assert gateway.process is not None
        signalled = time.monotonic()
        gateway.process.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        # Draining: still listening, no longer ready.
        ready = httpx.get(f"{gateway.url}/readyz")
        assert ready.status_code == 503
        assert ready.json() == {"error": "the gateway is shutting down"}
        for thread in threads:
            thread.join(timeout=20)
        ended = time.monotonic() - signalled
        # uvicorn re-raises the SIGTERM once it has shut down cleanly, as it should.
        assert gateway.process.wait(timeout=10) == -signal.SIGTERM
        log = gateway.output()
        assert "shutting down: not ready any more; in-flight requests have 2 s" in log
        assert "gateway stopped" in log  # the lifespan's shutdown ran: a clean exit

    assert json.loads(short[-1])["done"] is True
    assert json.loads(short[-1])["eval_count"] == 8, short
    last = json.loads(long[-1])
    assert last == {"error": "the gateway is shutting down and its grace period is over; retry"}
    assert all("message" in json.loads(line) for line in long[:-1])
    assert 1.5 < ended < 6  # the grace period, not the 20 s the long stream needed
