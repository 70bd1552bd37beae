"""The chat UI as one ASGI app: ``uvicorn liftoff.ui.main:app`` (port 8003 locally).

Chainlit serves the page and its websocket; in front of it this module answers the health
checks every Liftoff service has (``/healthz``, ``/readyz``) and refuses a websocket or
polling request whose ``Origin`` is another site (Chainlit's socket server checks no origin,
so a page elsewhere could otherwise drive a logged-in person's session).

Chainlit keeps its configuration in files under a working directory it reads on import; the
UI writes that configuration from its settings first (``LIFTOFF_UI_DATA_DIR``), so the
settings are the only place anything is configured.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import time
from collections.abc import Callable, Mapping
from importlib.metadata import version
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from liftoff.server.access import LoopbackOnly
from liftoff.server.errors import ErrorShapes, plain_error_body
from liftoff.server.logs import configure_logging
from liftoff.server.settings import SettingsError
from liftoff.ui.config import Settings, get_settings
from liftoff.ui.sources import Sources

logger = logging.getLogger("liftoff.ui")

SOCKET_PATH = "/ws/socket.io"
# Failed password logins allowed per client address in a window, before 429s.
LOGIN_FAILURES = 10
LOGIN_WINDOW_S = 60.0
MAX_TRACKED_ADDRESSES = 10_000
WELCOME = """\
# Liftoff chat

Chat with the models the Liftoff gateway serves{retrieval}. Pick the model, the temperature
and the maximum answer length in the settings (the sliders icon beside the message box).
Answers stream as they are generated{citations}.
"""


def create_app(settings: Settings | None = None) -> ASGIApp:
    """Configure Chainlit from ``settings`` and return the UI's ASGI app."""
    settings = settings or get_settings()
    configure_logging(
        settings.log_format,
        settings.log_level,
        quiet=("openai", "engineio", "socketio", "chainlit"),
    )
    _write_chainlit_files(settings)
    # Chainlit reads its working directory and the login cookie's secret on import.
    os.environ["CHAINLIT_APP_ROOT"] = str(settings.data_dir)
    secret = settings.auth_secret.get_secret_value() if settings.auth_secret else ""
    if settings.login_enabled and not secret:
        logger.warning("LIFTOFF_UI_AUTH_SECRET is not set: logins last until this process restarts")
    os.environ["CHAINLIT_AUTH_SECRET"] = secret or secrets.token_urlsafe(48)

    from chainlit.auth import ensure_jwt_secret
    from chainlit.server import app as chainlit_app

    from liftoff.ui import chat

    sources = Sources(settings)
    chat.register(settings, sources)
    ensure_jwt_secret()
    if settings.auth == "off":
        logger.warning("LIFTOFF_UI_AUTH=off: anyone who reaches %s can chat", settings.host)
    logger.info(
        "chat UI for %s%s; login: %s",
        settings.gateway_url,
        f" and {settings.retrieval_url}" if settings.retrieval_url else "",
        _login_kind(settings),
    )
    ui = UI(chainlit_app, settings)
    if settings.exposure.loopback_only:
        # No login on loopback: this machine only, and no page elsewhere (DNS rebinding).
        return LoopbackOnly(ui, shapes=ErrorShapes(plain_error_body))
    return ui


class UI:
    """Health checks and the same-origin rule in front of Chainlit's app."""

    def __init__(self, chainlit: ASGIApp, settings: Settings) -> None:
        self.chainlit = chainlit
        self.settings = settings
        self.logins = LoginThrottle()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in ("/healthz", "/readyz"):
            status = "ok" if scope["path"] == "/healthz" else "ready"
            body = {"status": status, "service": "liftoff-ui", "login": _login_kind(self.settings)}
            await _json(send, 200, body)
            return
        socket = scope["type"] in ("http", "websocket") and scope["path"].startswith(SOCKET_PATH)
        if socket and not _same_origin(scope):
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
            else:
                await _json(send, 403, {"error": "cross-origin requests are refused"})
            return
        if scope["type"] == "http" and scope["path"] == "/login" and scope["method"] == "POST":
            await self.logins(self.chainlit, scope, receive, send)
            return
        await self.chainlit(scope, receive, send)


class LoginThrottle:
    """At most :data:`LOGIN_FAILURES` failed password logins per client address per
    :data:`LOGIN_WINDOW_S`; beyond, ``POST /login`` answers 429 with ``Retry-After`` without
    checking the password. Behind a proxy every client shares its address: an attack then
    slows everyone's logins rather than letting guesses through."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.failures: dict[str, list[float]] = {}

    async def __call__(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        address = (scope.get("client") or ("unknown", 0))[0]
        now = self.clock()
        recent = [t for t in self.failures.get(address, []) if now - t < LOGIN_WINDOW_S]
        if len(recent) >= LOGIN_FAILURES:
            wait = int(LOGIN_WINDOW_S - (now - recent[0])) + 1
            await _json(send, 429, {"detail": "too many failed logins"}, retry_after=wait)
            return

        async def observe(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 401:
                recent.append(self.clock())
            await send(message)

        await app(scope, receive, observe)
        if recent:
            self.failures.pop(address, None)  # re-inserted last: the dict stays in age order
            self.failures[address] = recent[-LOGIN_FAILURES:]
            while len(self.failures) > MAX_TRACKED_ADDRESSES:
                del self.failures[next(iter(self.failures))]
        else:
            self.failures.pop(address, None)


def _same_origin(scope: Scope) -> bool:
    headers = dict(scope["headers"])
    origin = headers.get(b"origin", b"").decode("latin-1")
    if not origin:
        return True  # not a browser page on another site (browsers always send it there)
    host = headers.get(b"x-forwarded-host", headers.get(b"host", b"")).decode("latin-1")
    return bool(urlsplit(origin).netloc.lower() == host.split(",")[0].strip().lower())


async def _json(
    send: Send, status: int, body: Mapping[str, object], *, retry_after: int | None = None
) -> None:
    payload = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(payload))]
    if retry_after is not None:
        headers.append((b"retry-after", str(retry_after).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def _login_kind(settings: Settings) -> str:
    if not settings.login_enabled:
        return "off"
    kinds = [
        name for name, on in (("password", settings.users), ("header", settings.auth_header)) if on
    ]
    return "+".join(kinds)


def _write_chainlit_files(settings: Settings) -> None:
    """Chainlit's ``.chainlit/config.toml`` and welcome page, written from the settings."""
    root = settings.data_dir
    (root / ".chainlit").mkdir(parents=True, exist_ok=True)
    config = CHAINLIT_CONFIG.format(version=version("chainlit"))
    (root / ".chainlit" / "config.toml").write_text(config, encoding="utf-8")
    welcome = WELCOME.format(
        retrieval=" and the retrieval collections" if settings.retrieval_url else "",
        citations=", with their sources beside them" if settings.retrieval_url else "",
    )
    (root / "chainlit.md").write_text(welcome, encoding="utf-8")


# Only what the UI uses is on: no uploads, no HTML from messages, no edits that would fork
# the history, no MCP, no thread sharing; same-origin only.
CHAINLIT_CONFIG = """\
[project]
user_env = []
session_timeout = 3600
user_session_timeout = 86400
cache = false
persist_user_env = false
mask_user_env = true
allow_origins = []

[features]
unsafe_allow_html = false
latex = false
user_message_markdown = true
user_message_autoscroll = false
assistant_message_autoscroll = true
auto_tag_thread = false
edit_message = false
allow_thread_sharing = false
favorites = false

[features.spontaneous_file_upload]
enabled = false

[features.audio]
enabled = false

[features.mcp]
enabled = false

[features.mcp.user_servers]
enabled = false
allowed_urls = []

[UI]
name = "Liftoff"
description = "Chat with the models of a Liftoff gateway"
cot = "hidden"
confirm_new_chat = true

[meta]
generated_by = "{version}"
"""


try:
    app = create_app()
except SettingsError as exc:
    raise SystemExit(f"liftoff.ui: invalid settings:\n{exc}") from None
