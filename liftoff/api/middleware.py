"""Gateway-only ASGI middleware."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


class OllamaJSONBodies:
    """Treats request bodies under ``/api/`` as JSON, as Ollama's server does.

    ``curl -d '{...}'`` (Ollama's own documented examples) sends a form content type;
    without this, such bodies would be parsed as forms and rejected. Other surfaces keep
    the content type their clients sent.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] in ("POST", "PUT", "PATCH")
            and scope["path"].startswith("/api/")
        ):
            headers = [(k, v) for k, v in scope["headers"] if k != b"content-type"]
            headers.append((b"content-type", b"application/json"))
            # In place: outer middleware reads what the router adds to this same scope.
            scope["headers"] = headers
        await self.app(scope, receive, send)
