"""``liftoff api``: the generation gateway in this process."""

from __future__ import annotations

import typer
import uvicorn

from liftoff.api.config import get_settings
from liftoff.server.connections import UVICORN_HTTP


def api(
    host: str | None = typer.Option(None, help="Address to bind (default LIFTOFF_HOST)."),
    port: int | None = typer.Option(None, help="Port (default PORT / LIFTOFF_PORT, 8000)."),
) -> None:
    """Serve the generation gateway (liftoff.api.main:app) with the configured backend."""
    settings = get_settings()
    uvicorn.run(
        "liftoff.api.main:app",
        host=host or settings.host,
        port=port or settings.port,
        log_level="info",
        timeout_graceful_shutdown=10,
        http=UVICORN_HTTP,  # request heads time out; connections stay under the fd limit
    )
