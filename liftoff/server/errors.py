"""The error base class every service raises, and how errors become JSON responses.

    ServiceError                 500  something the service did not anticipate
     ├── InvalidRequest          400  the request itself is wrong (``param`` names the field)
     ├── Unauthorized            401  no API key, or not a valid one (never says which)
     ├── Forbidden               403  the route exists but is closed
     ├── NotFound                404  no such thing (a route, a model, a run)
     ├── MethodNotAllowed        405  the route exists for other methods (``Allow`` lists them)
     ├── RequestTimeout          408  the request body arrived too slowly
     ├── Conflict                409  the request conflicts with the current state
     ├── PayloadTooLarge         413  body over the configured limit
     ├── UnsupportedMediaType    415  the body is not in a content type the route takes
     ├── ClientClosedRequest     499  the client left before the answer (logged, never seen)
     ├── Unavailable             503  not ready yet, or shutting down (``Retry-After``)
     └── InsufficientStorage     507  the disk is full: nothing was written (``Retry-After``)

Services derive their own exceptions from these (``liftoff.api.errors`` adds rate limits and
backend failures); an exception carries its status, a machine-readable ``error_type``, a
message for people and, for 400s, the field at fault. Messages never carry secrets.

Each service chooses the JSON shape of its errors by route prefix with ``ErrorShapes``:
OpenAI's ``{"error": {"message", "type", "param", "code"}}`` (``openai_error_body``) or
Ollama's ``{"error": "message"}`` (``plain_error_body``). The same shapes serve errors
raised by routes, by validation, by Starlette's router and by middleware that answers before
routing (keys, body limits): ``install_error_handlers`` wires the first three.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.routing import Match

logger = logging.getLogger(__name__)


class ServiceError(Exception):
    status_code = 500
    error_type = "server_error"

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param

    @property
    def headers(self) -> dict[str, str]:
        return {}


class InvalidRequest(ServiceError):
    status_code = 400
    error_type = "invalid_request_error"


class Unauthorized(ServiceError):
    status_code = 401
    error_type = "authentication_error"

    @property
    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Bearer realm="liftoff"'}


class Forbidden(ServiceError):
    status_code = 403
    error_type = "forbidden"


class NotFound(ServiceError):
    status_code = 404
    error_type = "not_found"


class MethodNotAllowed(ServiceError):
    status_code = 405
    error_type = "method_not_allowed"

    def __init__(self, message: str, *, allow: str) -> None:
        super().__init__(message)
        self.allow = allow

    @property
    def headers(self) -> dict[str, str]:
        return {"Allow": self.allow}


class RequestTimeout(ServiceError):
    status_code = 408
    error_type = "request_timeout"


class Conflict(ServiceError):
    status_code = 409
    error_type = "conflict"


class PayloadTooLarge(ServiceError):
    status_code = 413
    error_type = "payload_too_large"


class UnsupportedMediaType(ServiceError):
    status_code = 415
    error_type = "unsupported_media_type"


class ClientClosedRequest(ServiceError):
    """The client disconnected and its work was stopped: the status (nginx's 499) is what
    the access log and metrics record; nobody is left to read the body."""

    status_code = 499
    error_type = "client_closed_request"


class RetryLater(ServiceError):
    """An error the client should retry after ``retry_after`` seconds (``Retry-After``)."""

    def __init__(self, message: str, *, retry_after: float = 5.0, param: str | None = None) -> None:
        super().__init__(message, param=param)
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(max(1, math.ceil(self.retry_after)))}


class Unavailable(RetryLater):
    status_code = 503
    error_type = "unavailable"


class InsufficientStorage(RetryLater):
    """RFC 4918 11.5: the server cannot store what the request needs to keep."""

    status_code = 507
    error_type = "insufficient_storage"


# Shapes.

ErrorShape = Callable[[ServiceError], dict[str, Any]]


def openai_error_body(error: ServiceError) -> dict[str, Any]:
    """OpenAI's error object (platform.openai.com/docs/guides/error-codes)."""
    return {
        "error": {
            "message": error.message,
            "type": error.error_type,
            "param": error.param,
            "code": error.status_code,
        }
    }


def plain_error_body(error: ServiceError) -> dict[str, Any]:
    """Ollama's error object (ollama docs/api.md: ``{"error": "..."}``)."""
    return {"error": error.message}


class ErrorShapes:
    """Which shape an error takes, by the path it answers; the longest matching prefix wins.

    >>> shapes = ErrorShapes(plain_error_body, {"/v1/": openai_error_body})
    >>> shapes.body("/v1/models", NotFound("no such model"))["error"]["code"]
    404
    >>> shapes.body("/api/tags", NotFound("no such model"))
    {'error': 'no such model'}
    """

    def __init__(self, default: ErrorShape, prefixes: Mapping[str, ErrorShape] | None = None):
        self.default = default
        self.prefixes = sorted((prefixes or {}).items(), key=lambda item: -len(item[0]))

    def shape(self, path: str) -> ErrorShape:
        for prefix, shape in self.prefixes:
            if path.startswith(prefix):
                return shape
        return self.default

    def body(self, path: str, error: ServiceError) -> dict[str, Any]:
        return self.shape(path)(error)

    def response(self, path: str, error: ServiceError, **headers: str) -> JSONResponse:
        return JSONResponse(
            self.body(path, error),
            status_code=error.status_code,
            headers={**error.headers, **headers},
        )


# Handlers.


def install_error_handlers(app: FastAPI, shapes: ErrorShapes, *, log_hint: str) -> None:
    """Render every exception of ``app`` in ``shapes``: service errors as they are, request
    validation as a 400 naming the field, Starlette's routing errors (404, 405 with
    ``Allow``), and anything else as a 500 whose message points at ``log_hint``."""
    app.state.error_shapes = shapes

    async def on_service_error(request: Request, exc: ServiceError) -> JSONResponse:
        return shapes.response(request.url.path, exc)

    async def on_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return shapes.response(request.url.path, validation_error(exc))

    async def on_http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return shapes.response(request.url.path, routing_error(exc, request))

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        error = ServiceError(f"internal error; see {log_hint}")
        return shapes.response(request.url.path, error)

    app.add_exception_handler(ServiceError, on_service_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, on_validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, on_http_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, on_unexpected)


def routing_error(exc: HTTPException, request: Request | None = None) -> ServiceError:
    """Starlette's own HTTP errors (unknown path, wrong method) as service errors.

    A 405's ``Allow`` lists every method the path takes (RFC 9110 15.5.6): Starlette's names
    only the first route whose path matched (``GET /v1/runs`` and ``POST /v1/runs`` are two
    routes), so the routes of ``request``'s app are asked again."""
    detail = str(exc.detail)
    if exc.status_code == 404:
        return NotFound(detail)
    if exc.status_code == 405:
        methods = set(_methods_of((exc.headers or {}).get("Allow", "")))
        if request is not None:
            methods |= _allowed_methods(request)
        allow = ", ".join(sorted(methods))
        return MethodNotAllowed(f"{detail}; allowed: {allow}" if allow else detail, allow=allow)
    error = ServiceError(detail)
    error.status_code = exc.status_code
    error.error_type = "invalid_request_error" if exc.status_code < 500 else "server_error"
    return error


def _allowed_methods(request: Request) -> set[str]:
    """The methods some route of the app fully matches on this path (routers included)."""
    methods: set[str] = set()
    for method in _METHODS:
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] is Match.FULL for route in request.app.router.routes):
            methods.add(method)
    return methods


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _methods_of(allow: str) -> list[str]:
    return [method.strip() for method in allow.split(",") if method.strip()]


def validation_error(exc: RequestValidationError) -> InvalidRequest:
    """The first problem in a request body, named by its field path."""
    problem = _most_telling(exc.errors())
    if problem["type"] == "json_invalid":
        detail = problem.get("ctx", {}).get("error", "malformed JSON")
        return InvalidRequest(f"the request body is not valid JSON: {detail}")
    location = [str(part) for part in problem["loc"] if part != "body" and not _is_type_tag(part)]
    # A discriminated union puts its tag in the path; OpenAI's content parts keep their
    # payload under their type's name ({"type": "image_url", "image_url": ...}), so the tag
    # shows as the next field twice: once is enough.
    location = [part for i, part in enumerate(location) if location[i + 1 : i + 2] != [part]]
    field = ".".join(location)
    message = problem["msg"]
    if not field:
        if isinstance(problem.get("input"), bytes):  # FastAPI did not parse it as JSON
            return InvalidRequest(
                "the request body must be JSON, sent with 'Content-Type: application/json'"
            )
        if problem["type"] == "missing":
            return InvalidRequest("the request body is required: send a JSON object")
        return InvalidRequest(f"the request body is invalid: {message}")
    if problem["type"] == "missing":
        return InvalidRequest(f"{field} is required", param=field)
    if problem["type"] == "extra_forbidden":
        return InvalidRequest(f"{field} is not a supported parameter", param=field)
    received = json.dumps(problem.get("input"), default=str)
    if len(received) > 80:
        received = received[:77] + "..."
    return InvalidRequest(f"{field}: {message} (got {received})", param=field)


def _most_telling(problems: Sequence[Any]) -> Any:
    """Of a union's errors, the one from the member whose type matched, if any did: one
    deeper in the field (``content.1.image_url.url`` in a list of parts), else one past the
    type check."""
    first = problems[0]
    field = _field_of(first)
    same_field = [p for p in problems if _field_of(p)[: len(field)] == field]
    deeper = [p for p in same_field if len(_field_of(p)) > len(field)]
    past_type_check = [p for p in same_field if not str(p["type"]).endswith("_type")]
    return (deeper or past_type_check or same_field)[0]


def _field_of(problem: Any) -> list[str]:
    return [str(part) for part in problem["loc"] if not _is_type_tag(part)]


def _is_type_tag(part: object) -> bool:
    # Pydantic puts the union member's type in the location: ("input", "list[str]"),
    # ("stop", "constrained-str").
    return isinstance(part, str) and (
        part in _TYPE_NAMES or "[" in part or part.startswith("constrained-")
    )


_TYPE_NAMES = {"str", "int", "float", "bool", "list", "dict", "none"}
