"""ASGI middleware that must see requests before FastAPI parses them."""

from __future__ import annotations

import asyncio

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import GatewayError, PayloadTooLarge, RequestTimeout
from api.protocols.errors import error_body


class BodySizeLimit:
    """Refuses request bodies over a limit (413) or too slow to arrive (408).

    ``limits`` maps exact paths to their own limit (Vertex allows 1.5 MB); every other
    path gets ``default``. A declared ``Content-Length`` is checked before reading; a
    chunked body is read up to the limit, then handed on whole. The whole body must
    arrive within ``timeout`` seconds, so a client trickling bytes (slow loris) cannot
    hold a connection and a worker for ever.
    """

    def __init__(
        self, app: ASGIApp, *, default: int, limits: dict[str, int], timeout: float
    ) -> None:
        self.app = app
        self.default = default
        self.limits = limits
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        limit = self.limits.get(scope["path"], self.default)
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await _reject(scope, send, PayloadTooLarge(_too_large(limit)))
            return
        body = bytearray()
        more = True
        try:
            async with asyncio.timeout(self.timeout):
                while more:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return
                    body += message.get("body", b"")
                    more = message.get("more_body", False)
                    if len(body) > limit:
                        await _reject(scope, send, PayloadTooLarge(_too_large(limit)))
                        return
        except TimeoutError:
            slow = RequestTimeout(f"the request body did not arrive within {self.timeout:g} s")
            await _reject(scope, send, slow)
            return
        await self.app(scope, _replay(bytes(body), receive), send)


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


async def _reject(scope: Scope, send: Send, error: GatewayError) -> None:
    headers = {"Connection": "close"}  # the rest of the body is never read
    response = JSONResponse(
        error_body(scope["path"], error), status_code=error.status_code, headers=headers
    )
    await response(scope, _no_receive, send)


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


class JSONBodies:
    """Treats every request body as JSON, as Ollama's server does.

    ``curl -d '{...}'`` (Ollama's own documented examples) sends a form content type;
    without this, such bodies would be parsed as forms and rejected.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("POST", "PUT", "PATCH"):
            headers = [(k, v) for k, v in scope["headers"] if k != b"content-type"]
            headers.append((b"content-type", b"application/json"))
            # In place: outer middleware reads what the router adds to this same scope.
            scope["headers"] = headers
        await self.app(scope, receive, send)
