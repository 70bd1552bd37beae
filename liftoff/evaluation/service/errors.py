"""The evaluation service's errors on the wire: OpenAI's shape on every route.

    {"error": {"message": "...", "type": "...", "param": "...", "code": 400}}

The shared layer (``liftoff.server.errors``) renders request validation, routing and
``ServiceError``s; this module maps the evaluation package's exceptions onto them:

    InvalidInput, DatasetError      400 invalid_request_error   (``param`` names the field)
    TargetError                     400 target_error            (unreachable, key, model)
    RunNotFound                     404 not_found
    RunNotComparable, RunBusy       409 conflict
    DataUnavailable (WordNet, Punkt) 503 scoring_unavailable    (the message gives the fix)
    StoreFull                       507 insufficient_storage    (nothing was written)
    ScoringTimeout                  504 scoring_timeout         (the work was stopped)
    StoreUnavailable                503 store_unavailable       (the database does not answer)
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from liftoff.evaluation.errors import DataUnavailable, EvaluationError, InvalidInput
from liftoff.evaluation.runs.errors import (
    RunBusy,
    RunNotComparable,
    RunNotFound,
    StoreFull,
    StoreUnavailable,
    TargetError,
)
from liftoff.server.errors import (
    Conflict,
    ErrorShapes,
    InsufficientStorage,
    InvalidRequest,
    NotFound,
    ServiceError,
    Unavailable,
    install_error_handlers,
    openai_error_body,
)
from liftoff.server.openapi import OpenAIError, error_responses

SHAPES = ErrorShapes(openai_error_body)

ERRORS = error_responses(
    OpenAIError,
    {
        400: "invalid request (the message names the field)",
        401: "missing or invalid API key",
        404: "unknown run or route",
        408: "the request body arrived too slowly",
        403: "a request from beyond this machine, or to a name that is not loopback, while "
        "the service runs without API keys",
        409: "conflict with the run's state (not finished, already running, not comparable)",
        413: "request body too large",
        415: "the request is not JSON (Content-Type: application/json)",
        503: "not ready, or the store does not answer (WordNet, the database, disk space); "
        "see Retry-After",
        504: "scoring took longer than this service allows; the work was stopped",
        507: "the store's disk is full; nothing was written (see Retry-After)",
    },
)


class TargetUnusable(InvalidRequest):
    error_type = "target_error"


class ScoringUnavailable(Unavailable):
    error_type = "scoring_unavailable"


class NotReady(Unavailable):
    error_type = "not_ready"


class ScoringTimeout(ServiceError):
    """Scoring (its wait for a worker included) took longer than LIFTOFF_EVAL_SCORE_TIMEOUT."""

    status_code = 504
    error_type = "scoring_timeout"


class StoreDown(Unavailable):
    error_type = "store_unavailable"


def to_service_error(exc: EvaluationError) -> ServiceError:
    if isinstance(exc, TargetError):
        return TargetUnusable(exc.message, param=exc.param)
    if isinstance(exc, InvalidInput):
        return InvalidRequest(exc.message, param=exc.param)
    if isinstance(exc, RunNotFound):
        return NotFound(exc.message, param="run_id")
    if isinstance(exc, RunNotComparable | RunBusy):
        return Conflict(exc.message)
    if isinstance(exc, StoreUnavailable):
        return StoreDown(exc.message)
    if isinstance(exc, DataUnavailable):
        return ScoringUnavailable(exc.message)
    if isinstance(exc, StoreFull):
        return InsufficientStorage(exc.message, retry_after=60)
    return ServiceError(exc.message)


async def _on_evaluation_error(request: Request, exc: EvaluationError) -> JSONResponse:
    return SHAPES.response(request.url.path, to_service_error(exc))


def install(app: FastAPI) -> None:
    install_error_handlers(app, SHAPES, log_hint="the evaluation service's log")
    app.add_exception_handler(EvaluationError, _on_evaluation_error)  # type: ignore[arg-type]
