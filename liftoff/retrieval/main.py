"""The ASGI entry point: ``uvicorn liftoff.retrieval.main:app`` (port 8002 locally)."""

from liftoff.retrieval.app import create_app
from liftoff.retrieval.config import get_settings
from liftoff.server.logs import configure_logging

settings = get_settings()
# The openai client logs every request to the gateway at INFO.
configure_logging(settings.log_format, settings.log_level, quiet=("httpx2", "openai"))
app = create_app(settings)
