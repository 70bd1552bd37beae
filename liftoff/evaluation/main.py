"""The ASGI entry point: ``uvicorn liftoff.evaluation.main:app`` (port 8001 locally)."""

from liftoff.evaluation.config import get_settings
from liftoff.evaluation.service.app import create_app
from liftoff.server.logs import configure_logging

settings = get_settings()
# The openai client logs every request of a run at INFO.
configure_logging(settings.log_format, settings.log_level, quiet=("httpx2", "openai"))
app = create_app(settings)
