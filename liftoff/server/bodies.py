"""Request bodies: bounded in size and in the time they take to arrive, and JSON where a
service takes nothing else."""

from __future__ import annotations

import asyncio

from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from liftoff.server.errors import (
    ErrorShapes,
    PayloadTooLarge,
    RequestTimeout,
    ServiceError,
    UnsupportedMediaType,
)


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


class RequireJSON:
    """Refuses (415) a POST, PUT or PATCH whose ``Content-Type`` is not JSON
    (``application/json`` or ``application/<anything>+json``), with or without a body.

    A browser sends a cross-site request without asking first (no CORS preflight) only with
    a form or ``text/plain`` content type, or none: requiring JSON means a page on another
    site cannot make a visitor's browser start work here (Fetch standard, "CORS-safelisted
    request-header").
    """

    def __init__(self, app: ASGIApp, *, shapes: ErrorShapes) -> None:
        self.app = app
        self.shapes = shapes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] in ("POST", "PUT", "PATCH")
            and not is_json(dict(scope["headers"]).get(b"content-type", b""))
            and _routed(scope)  # else the router answers (404, 405 with Allow)
        ):
            error = UnsupportedMediaType(
                "send the request as JSON, with 'Content-Type: application/json' (an empty "
                "body is sent as {})"
            )
            response = self.shapes.response(scope["path"], error, Connection="close")
            await response(scope, _no_receive, send)
            return
        await self.app(scope, receive, send)


def _routed(scope: Scope) -> bool:
    """Whether some route of the app takes this method on this path."""
    router = getattr(scope.get("app"), "router", None)
    if router is None:
        return True
    return any(route.matches(scope)[0] is Match.FULL for route in router.routes)


def is_json(content_type: bytes) -> bool:
    """``application/json`` or a ``+json`` structured suffix (RFC 6839), any parameters.

    >>> is_json(b"application/json; charset=utf-8"), is_json(b"text/plain")
    (True, False)
    """
    media_type = content_type.split(b";", 1)[0].strip().lower()
    kind, _, subtype = media_type.partition(b"/")
    return kind == b"application" and (subtype == b"json" or subtype.endswith(b"+json"))


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
