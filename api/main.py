"""The ASGI entry point: ``uvicorn api.main:app``."""

from api.app import create_app
from api.config import get_settings
from api.logs import configure_logging

settings = get_settings()
configure_logging(settings.log_format, settings.log_level)
app = create_app(settings)
