"""The ASGI entry point: ``uvicorn api.main:app``."""

from api.app import create_app
from api.config import get_settings

app = create_app(get_settings())
