"""``python -m liftoff.ui``: serve the chat UI on ``LIFTOFF_UI_HOST``:``LIFTOFF_UI_PORT``."""

from __future__ import annotations

import uvicorn

from liftoff.server.connections import UVICORN_HTTP
from liftoff.server.settings import SettingsError
from liftoff.ui.config import get_settings

try:
    settings = get_settings()
except SettingsError as exc:
    raise SystemExit(f"liftoff.ui: invalid settings:\n{exc}") from None
uvicorn.run(
    "liftoff.ui.main:app",
    host=settings.host,
    port=settings.port,
    log_config=None,  # the app configures logging itself
    timeout_graceful_shutdown=10,
    http=UVICORN_HTTP,  # request heads time out; connections stay under the fd limit
)
