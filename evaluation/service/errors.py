"""The evaluation service's errors on the wire, in the gateway's OpenAI shape.

    {"error": {"message": "...", "type": "...", "param": "...", "code": 400}}

The gateway's handlers (``api.protocols.errors``) render request validation, routing and
``GatewayError``s; this module adds the evaluation package's exceptions:

    InvalidInput, DatasetError      400 invalid_request_error   (``param`` names the field)
    TargetError                     400 target_error            (unreachable, key, model)
    RunNotFound                     404 not_found
    RunNotComparable, RunBusy       409 conflict
    WordNetUnavailable              503 scoring_unavailable     (the message gives the fix)
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from api.errors import GatewayError, InvalidRequest
from api.protocols.errors import error_response, install_error_handlers
from evaluation.errors import EvaluationError, InvalidInput, WordNetUnavailable
from evaluation.runs.errors import RunNotComparable, RunNotFound, TargetError

logger = logging.getLogger(__name__)


class TargetUnusable(InvalidRequest):
    error_type = "target_error"


class NotFound(GatewayError):
    status_code = 404
    error_type = "not_found"


class Conflict(GatewayError):
    status_code = 409
    error_type = "conflict"


class ScoringUnavailable(GatewayError):
    status_code = 503
    error_type = "scoring_unavailable"


def to_gateway_error(exc: EvaluationError) -> GatewayError:
    if isinstance(exc, TargetError):
        return TargetUnusable(exc.message, param=exc.param)
    if isinstance(exc, InvalidInput):
        return InvalidRequest(exc.message, param=exc.param)
    if isinstance(exc, RunNotFound):
        return NotFound(exc.message, param="run_id")
    if isinstance(exc, RunNotComparable):
        return Conflict(exc.message)
    if isinstance(exc, WordNetUnavailable):
        return ScoringUnavailable(exc.message)
    return GatewayError(exc.message)


async def _on_evaluation_error(request: Request, exc: EvaluationError) -> JSONResponse:
    return error_response(request, to_gateway_error(exc))


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    error = GatewayError("internal error; see the evaluation service's log")
    return error_response(request, error)


def install(app: FastAPI) -> None:
    install_error_handlers(app)
    app.add_exception_handler(EvaluationError, _on_evaluation_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _on_unexpected)
