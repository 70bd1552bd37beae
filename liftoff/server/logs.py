"""Structured logs: one JSON object per line, or plain text for humans at a terminal."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from typing import Any

from liftoff.server.context import logged_request

# Attributes every LogRecord has; anything else was passed with `extra=` and is a field.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class RequestIdFilter(logging.Filter):
    """Adds the running request's id to every log record that lacks one: what a request
    causes (a run it started, a backend error) carries that request's id."""

    def filter(self, record: logging.LogRecord) -> bool:
        info = logged_request.get()
        if info is not None and not hasattr(record, "request_id"):
            record.request_id = info.request_id
        return True


def configure_logging(log_format: str, level: str, *, quiet: Iterable[str] = ()) -> None:
    """Route our loggers and uvicorn's through one handler in the chosen format.

    ``quiet`` names loggers of client libraries that log every request at INFO (noise here).
    """
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JSONFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(levelname)-8s %(name)s: %(message)s"))
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
    for name in ("httpx", "httpx2", *quiet):
        logging.getLogger(name).setLevel(logging.WARNING)
    # Our access log replaces uvicorn's: it carries the request id, key id and tokens.
    logging.getLogger("uvicorn.access").disabled = True
