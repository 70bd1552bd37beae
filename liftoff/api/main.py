"""The ASGI entry point: ``uvicorn liftoff.api.main:app``."""

from liftoff.api.app import create_app
from liftoff.api.config import get_settings
from liftoff.server.logs import configure_logging

settings = get_settings()
configure_logging(settings.log_format, settings.log_level)
app = create_app(settings)
