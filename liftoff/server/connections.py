"""Connections the server itself keeps in bounds: request heads that take too long or grow
too large, and more connections than the process has file descriptors for.

uvicorn has no header-read timeout: its keep-alive timer stops at a request's first byte,
and httptools puts no limit on a request head, so a client sending one header line every
few seconds holds a connection (and a file descriptor) for ever, and 300 of them exhaust a
low ``ulimit -n`` so that nothing else, health checks included, can connect. The closest
real thing is in the server's own protocol, which every Liftoff service runs under
(``uvicorn --http liftoff.server.connections:GuardedHTTPProtocol``; :data:`UVICORN_OPTIONS`):

- a request head (request line and headers) must arrive whole within
  :data:`HEAD_TIMEOUT_S` of the connection opening, or of its first byte on a kept-alive
  connection; otherwise 408 and the connection closes (Go's ``ReadHeaderTimeout``, nginx's
  ``client_header_timeout``);
- a head larger than :data:`MAX_HEAD_BYTES` gets 431 and the connection closes (h11's
  ``max_incomplete_event_size`` for httptools);
- connections are capped below the file-descriptor limit (:func:`connection_cap`): past
  the cap, a new connection closes the one that has waited longest for a request head, if
  that one has waited at least :data:`EVICT_AFTER_S` (slow-header and idle keep-alive
  connections; never one whose request is being handled), and is otherwise closed itself.
  A client that sends its head at once (a health check) is therefore served while slow
  ones are held: the process never runs out of descriptors, and a slow connection gives
  way to it.

Request bodies are the app's business (``liftoff.server.bodies``: 413, 408).
"""

from __future__ import annotations

import resource
import time
from typing import Any, Final

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEAD_TIMEOUT_S: Final = 10.0
MAX_HEAD_BYTES: Final = 64 * 1024
# A connection younger than this is not closed to make room: it may be sending its head.
EVICT_AFTER_S: Final = 1.0
# File descriptors kept for everything but client connections: the listening socket,
# logs, stores, worker pipes, connections to backends.
MIN_RESERVED_FDS: Final = 64

UVICORN_HTTP: Final = "liftoff.server.connections:GuardedHTTPProtocol"
UVICORN_OPTIONS: Final = ("--http", UVICORN_HTTP)
"""What every ``uvicorn`` command line serving a Liftoff app adds."""


def connection_cap(soft_limit: int | None = None) -> int:
    """Client connections one process keeps open at most: the soft ``RLIMIT_NOFILE`` less a
    reserve of a quarter (at least :data:`MIN_RESERVED_FDS`).

    >>> connection_cap(1024), connection_cap(256)
    (768, 192)
    """
    if soft_limit is None:
        soft_limit, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft_limit == resource.RLIM_INFINITY:
            soft_limit = 1 << 20
    return max(1, soft_limit - max(MIN_RESERVED_FDS, soft_limit // 4))


_STATUS = {
    408: b"HTTP/1.1 408 Request Timeout\r\n",
    431: b"HTTP/1.1 431 Request Header Fields Too Large\r\n",
}


class GuardedHTTPProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a head timeout, a head size limit and a connection
    cap (see the module's docstring)."""

    cap: int = connection_cap()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.waiting_since: float | None = None  # waiting for a request head since
        self._head_bytes = 0
        self._head_timer: Any = None

    # Waiting for a head: from the connection's start, and again after each response.

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._wait_for_head()
        if len(self.connections) > self.cap:
            self._make_room()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and not self.pipeline:
            # Idle on keep-alive (uvicorn's own timer closes it): evictable, but the head
            # timer starts only with the next request's first byte.
            self.waiting_since = time.monotonic()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._head_timer is None:
            self._wait_for_head()

    def on_headers_complete(self) -> None:
        self._head_done()
        self._head_bytes = 0
        super().on_headers_complete()

    def data_received(self, data: bytes) -> None:
        if self.cycle is None or self.cycle.response_complete:
            # Within a head: count what this chunk adds to it (up to its blank line) before
            # the parser keeps it.
            end = data.find(b"\r\n\r\n")
            self._head_bytes += len(data) if end < 0 else end + 4
            if self._head_bytes > MAX_HEAD_BYTES:
                self._refuse(431, f"request head over {MAX_HEAD_BYTES} bytes")
                return
        super().data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_done()
        super().connection_lost(exc)

    def _wait_for_head(self) -> None:
        self.waiting_since = time.monotonic()
        self._head_timer = self.loop.call_later(HEAD_TIMEOUT_S, self._head_timed_out)

    def _head_done(self) -> None:
        self.waiting_since = None
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        self._refuse(408, f"request head not received within {HEAD_TIMEOUT_S:g} s")

    def _refuse(self, status: int, message: str) -> None:
        self._head_done()
        if self.transport.is_closing():
            return
        body = message.encode()
        self.transport.write(
            _STATUS[status]
            + b"content-type: text/plain; charset=utf-8\r\nconnection: close\r\n"
            + b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )  # fmt: skip
        self.transport.close()

    def _make_room(self) -> None:
        """Over the cap: close the connection waiting longest for a head, else this one."""
        ripe = time.monotonic() - EVICT_AFTER_S
        waiting = [
            connection
            for connection in self.connections
            if isinstance(connection, GuardedHTTPProtocol)
            and connection is not self
            and connection.waiting_since is not None
            and connection.waiting_since <= ripe
            and not connection.transport.is_closing()
        ]
        victim = min(waiting, key=lambda c: c.waiting_since or 0.0) if waiting else self
        victim._head_done()
        victim.transport.abort()
