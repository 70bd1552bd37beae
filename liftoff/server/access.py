"""Who may reach a service: one exposure rule for every Liftoff service.

- Keys are required whenever the service binds beyond loopback or keys are configured
  (``auth="auto"``); ``"on"`` requires them anyway, and ``"off"`` must be said explicitly
  (behind a platform gate such as Cloud Run IAM). A service that would be exposed without
  keys refuses to start: :meth:`Exposure.problem` is what its settings raise.
- A service answering without keys on loopback answers this machine only
  (:class:`LoopbackOnly`): the client's address must be a loopback address (so a server
  started with a wider ``--host`` than its settings say still serves nobody else), the
  ``Host`` header a loopback name (DNS rebinding: a page on ``evil.example`` whose name
  now resolves to 127.0.0.1 reaches the service with ``Host: evil.example``), and an
  ``Origin``, when a browser sends one, a loopback origin or one of the service's CORS
  origins (a page elsewhere cannot make the browser call it).

:func:`protect` installs whichever applies on an app::

    exposure = Exposure(service="the evaluation service", host=settings.host,
                        auth=settings.auth, has_keys=bool(keys), keys_variable=...)
    protect(app, exposure, keys=keys, open_paths={"/healthz", "/readyz"}, shapes=SHAPES)
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send

from liftoff.server.auth import APIKeys, AuthMiddleware
from liftoff.server.errors import ErrorShapes, Forbidden

logger = logging.getLogger(__name__)

AuthMode = Literal["auto", "on", "off"]


def is_loopback_name(host: str) -> bool:
    """Whether ``host`` (a name or an address, IPv6 with or without brackets) can only mean
    this machine: ``localhost`` and its subdomains (RFC 6761 6.3), 127.0.0.0/8, ``::1``.

    >>> [is_loopback_name(h) for h in ("localhost", "127.0.0.2", "[::1]", "0.0.0.0", "a.io")]
    [True, True, True, False, False]
    """
    name = host.strip().lower().removeprefix("[").removesuffix("]").rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Exposure:
    """A service's exposure: where it binds, its auth mode, whether it has keys.

    ``keys_variable`` and ``auth_variable`` name the settings that fix a problem (messages
    say which variable to set, never a value); ``credential`` says what the service calls
    its keys (the chat UI has logins).
    """

    service: str
    host: str
    auth: AuthMode
    has_keys: bool
    keys_variable: str
    auth_variable: str
    credential: str = "API keys"

    @property
    def beyond_loopback(self) -> bool:
        return not is_loopback_name(self.host)

    @property
    def keys_required(self) -> bool:
        if self.auth == "auto":
            return self.beyond_loopback or self.has_keys
        return self.auth == "on"

    @property
    def loopback_only(self) -> bool:
        """Without keys on loopback: the service answers this machine only."""
        return not self.keys_required and not self.beyond_loopback

    def problem(self) -> str | None:
        """Why the service must not start as configured, or None."""
        if not self.keys_required or self.has_keys:
            return None
        if self.auth == "on":
            why = f"{self.auth_variable}=on"
        else:
            why = f"{self.service} binds {self.host}, beyond this machine, so it"
        return (
            f"{why} needs {self.credential}: set {self.keys_variable}; behind a platform gate "
            f"such as Cloud Run IAM, set {self.auth_variable}=off explicitly"
        )


def protect(
    app: Starlette,
    exposure: Exposure,
    *,
    keys: Sequence[str],
    open_paths: Collection[str],
    shapes: ErrorShapes,
    cors_origins: Collection[str] = (),
) -> None:
    """Add the middleware ``exposure`` calls for: keys, or loopback only, or (auth off
    beyond loopback) nothing but a loud warning. Raises ``ValueError`` when keys are
    required and none is given (settings refuse that first)."""
    if exposure.keys_required:
        api_keys = APIKeys(keys)
        app.add_middleware(AuthMiddleware, keys=api_keys, open_paths=set(open_paths),
                           shapes=shapes)  # fmt: skip
        logger.info("authentication on: %d API key(s)", len(api_keys))
    elif exposure.loopback_only:
        app.add_middleware(LoopbackOnly, shapes=shapes, cors_origins=cors_origins)
        logger.info("no API keys: answering requests from this machine only")
    else:
        logger.warning(
            "AUTHENTICATION IS OFF (%s=off) while listening on %s: anyone who can reach this "
            "port can use %s. Only do this behind a gate such as Cloud Run or Vertex AI IAM.",
            exposure.auth_variable,
            exposure.host,
            exposure.service,
        )


class LoopbackOnly:
    """Refuses (403) what does not come from this machine, addressed to it by a loopback
    name; see the module's docstring. HTTP and WebSocket alike."""

    def __init__(
        self, app: ASGIApp, *, shapes: ErrorShapes, cors_origins: Collection[str] = ()
    ) -> None:
        self.app = app
        self.shapes = shapes
        self.cors_origins = {origin.rstrip("/").lower() for origin in cors_origins}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        refusal = self.refusal(scope)
        if refusal is None:
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": refusal[:120]})
        else:
            await self.shapes.response(scope["path"], Forbidden(refusal))(scope, receive, send)

    def refusal(self, scope: Scope) -> str | None:
        """Why this request is refused, or None."""
        client = scope.get("client")
        if client and client[0] and not is_loopback_name(client[0]):
            return (
                "this service runs without authentication, so it answers only this machine; "
                "configure API keys (or logins) to serve other machines"
            )
        headers = dict(scope["headers"])
        host = headers.get(b"host", b"").decode("latin-1")
        if host and not is_loopback_name(_without_port(host)):
            return (
                "this service runs without authentication, so it answers only requests "
                "addressed to a loopback name (localhost, 127.0.0.1, [::1]); configure API "
                "keys (or logins) to serve other names"
            )
        origin = headers.get(b"origin", b"").decode("latin-1").rstrip("/").lower()
        if origin and not self._allowed_origin(origin):
            return (
                "this service runs without authentication, so it answers no web page but its "
                "own and those on this machine (the request's Origin is elsewhere); "
                "cross-origin requests are refused"
            )
        return None

    def _allowed_origin(self, origin: str) -> bool:
        if origin in self.cors_origins:
            return True
        if origin == "null":  # sandboxed frames, file:// pages: anyone can make one
            return False
        return is_loopback_name(urlsplit(origin).hostname or "")


def _without_port(host: str) -> str:
    if host.startswith("["):  # [::1]:8000
        return host[: host.find("]") + 1] if "]" in host else host
    name, _, _ = host.partition(":")
    return name
