"""API keys: who may use a service.

Keys come as ``Authorization: Bearer <key>`` or ``x-api-key: <key>`` (never from the query
string, which ends up in logs). Every presented key is compared with every configured key
in constant time, so timing reveals neither which key nearly matched nor how many exist.
A key is known elsewhere only by its id, a short hash, which is safe to log and to use as
a metrics label.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

from liftoff.server.context import info_of
from liftoff.server.errors import ErrorShapes, Unauthorized

# Keys longer than this are refused before hashing: no work amplification from huge headers.
MAX_KEY_LENGTH = 512


def key_id(key: str) -> str:
    """A stable, non-reversible name for a key: safe in logs and metrics."""
    return "key-" + hashlib.sha256(key.encode()).hexdigest()[:10]


class APIKeys:
    """The accepted keys.

    >>> keys = APIKeys(["sk-team-a", "sk-team-b"])
    >>> keys.identify("sk-team-b") == key_id("sk-team-b")
    True
    >>> keys.identify("sk-guess") is None
    True
    """

    def __init__(self, keys: Iterable[str]) -> None:
        self._keys = [(key.encode(), key_id(key)) for key in keys if key]
        if not self._keys:
            raise ValueError("no API keys given")

    def __len__(self) -> int:
        return len(self._keys)

    def identify(self, presented: str) -> str | None:
        """The id of the matching key, or None; constant time in the keys compared."""
        candidate = presented.encode()
        found = None
        for key, identity in self._keys:
            # No early exit: every key is compared whatever matched before.
            if hmac.compare_digest(key, candidate):
                found = identity
        return found


class AuthMiddleware:
    """Refuses requests without a valid key: 401 in the shape ``shapes`` gives the path.

    ``open_paths`` (health checks) pass without a key.
    """

    def __init__(
        self, app: ASGIApp, *, keys: APIKeys, open_paths: set[str], shapes: ErrorShapes
    ) -> None:
        self.app = app
        self.keys = keys
        self.open_paths = open_paths
        self.shapes = shapes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.open_paths:
            await self.app(scope, receive, send)
            return
        presented = _presented_key(scope)
        too_long = len(presented) > MAX_KEY_LENGTH
        identity = self.keys.identify(presented) if presented and not too_long else None
        if identity is None:
            error = Unauthorized("invalid API key" if presented else _MISSING)
            await self.shapes.response(scope["path"], error)(scope, receive, send)
            return
        info_of(scope).key_id = identity
        await self.app(scope, receive, send)


_MISSING = "missing API key: send it as 'Authorization: Bearer <key>' or 'x-api-key: <key>'"


def _presented_key(scope: Scope) -> str:
    authorization = ""
    api_key = ""
    for name, value in scope["headers"]:
        if name == b"authorization":
            authorization = value.decode("latin-1")
        elif name == b"x-api-key":
            api_key = value.decode("latin-1")
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else api_key.strip()
