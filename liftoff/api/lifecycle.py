"""Graceful shutdown on SIGTERM, as Cloud Run (10 s) and Kubernetes (30 s) send it.

1. readiness turns 503 at once, so load balancers stop sending new requests;
2. after ``drain_seconds`` the server stops accepting (uvicorn's own SIGTERM handling),
   while requests in flight go on;
3. streams still running ``grace_seconds`` after the signal end with an in-stream error,
   so every client gets a clean end instead of a cut connection.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

logger = logging.getLogger(__name__)

SignalHandler = Callable[[int, FrameType | None], Any]


class Lifecycle:
    def __init__(self, *, grace_seconds: float, drain_seconds: float) -> None:
        self.grace_seconds = grace_seconds
        self.drain_seconds = drain_seconds
        self.draining = False
        self._deadline: float | None = None

    def must_stop(self) -> bool:
        """True once the grace period after SIGTERM is over."""
        return self._deadline is not None and time.monotonic() >= self._deadline

    def begin_shutdown(self) -> None:
        if not self.draining:
            self.draining = True
            self._deadline = time.monotonic() + self.grace_seconds
            logger.info(
                "shutting down: not ready any more; in-flight requests have %g s",
                self.grace_seconds,
            )

    def install(self, loop: asyncio.AbstractEventLoop) -> Callable[[], None]:
        """Chain our SIGTERM handling before the server's; returns a function undoing it.

        Signal handlers can only be set from the main thread; elsewhere (an app served from
        a test thread) this does nothing.
        """
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous = signal.getsignal(signal.SIGTERM)

        def on_sigterm(signum: int, frame: FrameType | None) -> None:
            self.begin_shutdown()
            if callable(previous):
                stop_accepting: SignalHandler = previous
                loop.call_soon_threadsafe(
                    loop.call_later, self.drain_seconds, stop_accepting, signum, frame
                )

        signal.signal(signal.SIGTERM, on_sigterm)

        def restore() -> None:
            signal.signal(signal.SIGTERM, previous)

        return restore
