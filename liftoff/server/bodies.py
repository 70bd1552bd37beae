"""Request bodies: bounded in size and in the time they take to arrive."""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from liftoff.server.errors import ErrorShapes, PayloadTooLarge, RequestTimeout, ServiceError


class BodySizeLimit:
    """Refuses request bodies over a limit (413) or too slow to arrive (408).

    ``limits`` maps exact paths to their own limit (Vertex allows 1.5 MB); every other
    path gets ``default``. A declared ``Content-Length`` is checked before reading; a
    chunked body is read up to the limit, then handed on whole. The whole body must
    arrive within ``timeout`` seconds, so a client trickling bytes (slow loris) cannot
    hold a connection and a worker for ever.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        default: int,
        limits: dict[str, int],
        timeout: float,
        shapes: ErrorShapes,
    ) -> None:
        self.app = app
        self.default = default
        self.limits = limits
        self.timeout = timeout
        self.shapes = shapes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        limit = self.limits.get(scope["path"], self.default)
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await self._reject(scope, send, PayloadTooLarge(_too_large(limit)))
            return
        parts: list[bytes] = []  # joined once at the end: no copy when one message holds all
        size = 0
        more = True
        try:
            async with asyncio.timeout(self.timeout):
                while more:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return
                    part = message.get("body", b"")
                    parts.append(part)
                    size += len(part)
                    more = message.get("more_body", False)
                    if size > limit:
                        await self._reject(scope, send, PayloadTooLarge(_too_large(limit)))
                        return
        except TimeoutError:
            slow = RequestTimeout(f"the request body did not arrive within {self.timeout:g} s")
            await self._reject(scope, send, slow)
            return
        body = parts[0] if len(parts) == 1 else b"".join(parts)
        await self.app(scope, _replay(bytes(body), receive), send)

    async def _reject(self, scope: Scope, send: Send, error: ServiceError) -> None:
        # Connection: close, because the rest of the body is never read.
        response = self.shapes.response(scope["path"], error, Connection="close")
        await response(scope, _no_receive, send)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # later calls wait for the client to disconnect

    return replay


def _too_large(limit: int) -> str:
    return f"the request body is larger than this route's limit of {limit} bytes"


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}
