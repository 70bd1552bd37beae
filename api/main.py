"""The ASGI entry point: ``uvicorn api.main:app``."""

import logging

from api.app import create_app
from api.config import get_settings

# uvicorn configures only its own loggers; without this the gateway's start-up lines
# (model served, Ollama pull progress) would be dropped.
if not logging.getLogger().handlers:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s: %(message)s")

app = create_app(get_settings())
