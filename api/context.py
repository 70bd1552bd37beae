"""What the layers of one request share: its id, its key's id, and the tokens it used.

The outermost middleware creates a ``RequestInfo`` per request; inner layers (auth, the
generator) fill it in, and the access log and metrics read it when the response ends.
It is a mutable object in a context variable so that a streaming body, which runs in a
child task with a copy of the context, still updates the same record.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass


@dataclass
class RequestInfo:
    request_id: str = ""
    key_id: str = "anonymous"
    client: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0


current_request: contextvars.ContextVar[RequestInfo | None] = contextvars.ContextVar(
    "current_request", default=None
)


def request_info() -> RequestInfo:
    """The running request's record (a detached one outside any request)."""
    return current_request.get() or RequestInfo()
