"""The ASGI entry point: ``uvicorn liftoff.retrieval.main:app`` (port 8002 locally).

Invalid settings end the process with one line per problem, naming the variables at fault
and never a value.
"""

from liftoff.retrieval.app import create_app
from liftoff.retrieval.config import get_settings
from liftoff.server.logs import configure_logging
from liftoff.server.settings import SettingsError

try:
    settings = get_settings()
except SettingsError as exc:
    raise SystemExit(f"liftoff.retrieval: invalid settings:\n{exc}") from None
# The openai client logs every request to the gateway at INFO.
configure_logging(settings.log_format, settings.log_level, quiet=("httpx2", "openai"))
app = create_app(settings)
