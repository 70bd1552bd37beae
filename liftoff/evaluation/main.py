"""The ASGI entry point: ``uvicorn liftoff.evaluation.main:app`` (port 8001 locally).

Invalid settings, or a service that would be exposed without API keys, end the process with
one line per problem, naming the variables at fault and never a value.
"""

from liftoff.evaluation.config import get_settings
from liftoff.evaluation.service.app import create_app
from liftoff.server.logs import configure_logging
from liftoff.server.settings import SettingsError

try:
    settings = get_settings()
    # The openai client logs every request of a run at INFO.
    configure_logging(settings.log_format, settings.log_level, quiet=("httpx2", "openai"))
    app = create_app(settings)
except SettingsError as exc:
    raise SystemExit(f"liftoff.evaluation: invalid settings:\n{exc}") from None
