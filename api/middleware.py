"""ASGI middleware that must see requests before FastAPI parses them."""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import PayloadTooLarge
from api.protocols.errors import error_body


class BodySizeLimit:
    """Refuses request bodies over a limit with a 413, reading no more than the limit.

    ``limits`` maps exact paths to their own limit (Vertex allows 1.5 MB); every other
    path gets ``default``. A declared ``Content-Length`` is checked before reading; a
    chunked body is read up to the limit, then handed on whole.
    """

    def __init__(self, app: ASGIApp, *, default: int, limits: dict[str, int]) -> None:
        self.app = app
        self.default = default
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        limit = self.limits.get(scope["path"], self.default)
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await _reject(scope, send, limit)
            return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > limit:
                await _reject(scope, send, limit)
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


async def _reject(scope: Scope, send: Send, limit: int) -> None:
    error = PayloadTooLarge(f"the request body is larger than this route's limit of {limit} bytes")
    response = JSONResponse(error_body(scope["path"], error), status_code=error.status_code)
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
