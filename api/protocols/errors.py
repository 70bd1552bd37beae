"""Errors on the wire: one shape per protocol, produced only here.

OpenAI routes (``/v1/...``) answer ``{"error": {"message", "type", "param", "code"}}``;
Ollama routes, Vertex and health answer ``{"error": "message"}`` as Ollama does.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from api.errors import GatewayError, InvalidRequest

logger = logging.getLogger(__name__)


def openai_error_body(error: GatewayError) -> dict[str, Any]:
    return {
        "error": {
            "message": error.message,
            "type": error.error_type,
            "param": error.param,
            "code": error.status_code,
        }
    }


def ollama_error_body(error: GatewayError) -> dict[str, Any]:
    return {"error": error.message}


def error_body(path: str, error: GatewayError) -> dict[str, Any]:
    """The error in the shape of the protocol that ``path`` belongs to."""
    return openai_error_body(error) if path.startswith("/v1/") else ollama_error_body(error)


def error_response(request: Request, error: GatewayError) -> JSONResponse:
    body = error_body(request.url.path, error)
    return JSONResponse(body, status_code=error.status_code, headers=error.headers)


def validation_error(exc: RequestValidationError) -> InvalidRequest:
    """The first problem in a request body, named by its field path."""
    problem = _most_telling(exc.errors())
    if problem["type"] == "json_invalid":
        detail = problem.get("ctx", {}).get("error", "malformed JSON")
        return InvalidRequest(f"the request body is not valid JSON: {detail}")
    location = [str(part) for part in problem["loc"] if part != "body" and not _is_type_tag(part)]
    field = ".".join(location)
    message = problem["msg"]
    if not field:
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


class RoutingError(GatewayError):
    """Starlette's own HTTP errors (unknown path, wrong method), in our shapes."""

    def __init__(self, exc: HTTPException) -> None:
        super().__init__(str(exc.detail))
        self.status_code = exc.status_code
        self.error_type = "not_found" if exc.status_code == 404 else "invalid_request_error"


async def _on_gateway_error(request: Request, exc: GatewayError) -> JSONResponse:
    return error_response(request, exc)


async def _on_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    return error_response(request, validation_error(exc))


async def _on_http_error(request: Request, exc: HTTPException) -> JSONResponse:
    return error_response(request, RoutingError(exc))


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(request, GatewayError("internal error; see the gateway's log"))


def _most_telling(problems: Sequence[Any]) -> Any:
    """Of a union's errors, the one from the member whose type matched, if any did."""
    first = problems[0]
    same_field = [p for p in problems if _field_of(p) == _field_of(first)]
    past_type_check = [p for p in same_field if not str(p["type"]).endswith("_type")]
    return (past_type_check or same_field)[0]


def _field_of(problem: Any) -> list[str]:
    return [str(part) for part in problem["loc"] if not _is_type_tag(part)]


def _is_type_tag(part: object) -> bool:
    # Pydantic puts the union member's type in the location: ("input", "list[str]").
    return isinstance(part, str) and (part in _TYPE_NAMES or "[" in part)


_TYPE_NAMES = {"str", "int", "float", "bool", "list", "dict", "none"}


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(GatewayError, _on_gateway_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _on_validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _on_http_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _on_unexpected)
