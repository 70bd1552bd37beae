"""The ASGI entry point: ``uvicorn evaluation.main:app`` (port 8001 locally)."""

import logging

from api.logs import configure_logging
from evaluation.config import get_settings
from evaluation.service.app import create_app
from evaluation.service.observability import RequestIdFilter

settings = get_settings()
configure_logging(settings.log_format, settings.log_level)
for handler in logging.getLogger().handlers:
    handler.addFilter(RequestIdFilter())
for noisy in ("httpx2", "openai"):  # the openai client logs every request at INFO
    logging.getLogger(noisy).setLevel(logging.WARNING)
app = create_app(settings)
