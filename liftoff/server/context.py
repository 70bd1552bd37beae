"""One record per request, shared by the layers that handle it.

The outermost middleware (``RequestObserver``) creates a ``RequestInfo`` and keeps it in the
ASGI scope's ``state``; authentication fills in the key id, the service the tokens it used,
and the access log and metrics read it when the response ends. Routes reach it explicitly
with ``request_info(request)``. A context variable mirrors it only so that log records
written while handling a request carry its id (``logs.RequestIdFilter``).
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass

from starlette.requests import HTTPConnection
from starlette.types import Scope

_STATE_KEY = "liftoff.request"


@dataclass
class RequestInfo:
    request_id: str = ""
    key_id: str = "anonymous"
    client: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def rate_key(self) -> str:
        """Who limits apply to: the key, or the client's address without authentication."""
        return self.key_id if self.key_id != "anonymous" else f"client:{self.client}"


logged_request: contextvars.ContextVar[RequestInfo | None] = contextvars.ContextVar(
    "logged_request", default=None
)


def attach(scope: Scope, info: RequestInfo) -> None:
    scope.setdefault("state", {})[_STATE_KEY] = info


def info_of(scope: Scope) -> RequestInfo:
    """The request's record; a detached one when no observer created it (a bare app)."""
    state = scope.setdefault("state", {})
    info = state.get(_STATE_KEY)
    if info is None:
        info = state[_STATE_KEY] = RequestInfo()
    return info  # type: ignore[no-any-return]


def request_info(connection: HTTPConnection) -> RequestInfo:
    """The record of the request a route is handling."""
    return info_of(connection.scope)
