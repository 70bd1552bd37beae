"""The ASGI entry point: ``uvicorn liftoff.api.main:app``.

Invalid settings end the process with one line per problem, naming the variables at fault
and never a value (no traceback: pydantic's would print the values, API keys included).
"""

from liftoff.api.app import create_app
from liftoff.api.config import get_settings
from liftoff.server.logs import configure_logging
from liftoff.server.settings import SettingsError

try:
    settings = get_settings()
except SettingsError as exc:
    raise SystemExit(f"liftoff.api: invalid settings:\n{exc}") from None
configure_logging(settings.log_format, settings.log_level)
app = create_app(settings)
