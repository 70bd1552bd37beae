"""``python -m liftoff.ui``: serve the chat UI on ``LIFTOFF_UI_HOST``:``LIFTOFF_UI_PORT``."""

from __future__ import annotations

import uvicorn

from liftoff.ui.config import get_settings

settings = get_settings()
uvicorn.run(
    "liftoff.ui.main:app",
    host=settings.host,
    port=settings.port,
    log_config=None,  # the app configures logging itself
    timeout_graceful_shutdown=10,
)
