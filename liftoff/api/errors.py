"""The gateway's exceptions. Every failure a client can see is one of these.

    ServiceError (liftoff.server.errors)   500  something we did not anticipate
     ├── InvalidRequest                    400  the request itself is wrong (names the field)
     │    ├── FieldError                   400  the message starts with the field's name
     │    │    └── AboveLimit              400  a value above one of the gateway's limits
     │    └── ContextLengthExceeded        400  prompt longer than the model's context window
     ├── Unauthorized                      401  no API key, or not a valid one
     ├── Forbidden                         403  model management through the gateway
     ├── NotFound                          404
     │    └── ModelNotFound                404  the model is not served here
     ├── RequestTimeout                    408  the request body arrived too slowly
     ├── PayloadTooLarge                   413  body over the configured limit
     ├── RetryLater
     │    ├── RateLimited                  429  the key used up its requests or tokens per minute
     │    └── Unavailable                  503
     │         └── Overloaded              503  every generation slot and queue place is taken
     └── BackendError                      502  the backend answered with an error
          ├── BackendUnavailable           503  the backend cannot be reached or is not ready
          └── BackendTimeout               504  the backend took longer than the request timeout

Backends translate their upstream errors into this tree (``raise ... from exc``); the
protocol surfaces render it in their own wire shape (``liftoff.api.protocols.errors``).
Messages never carry secrets.

The core and the backends name the field at fault (``param``) as ``GenerationRequest`` does
(``options.max_tokens``, ``messages``); each surface renames it to its own wire name with
``rename_param`` before the client sees it (``liftoff.api.protocols.errors.FieldNames``).
"""

from __future__ import annotations

from liftoff.server.errors import (
    Forbidden,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    RequestTimeout,
    RetryLater,
    ServiceError,
    Unauthorized,
    Unavailable,
)

__all__ = [
    "AboveLimit",
    "BackendError",
    "BackendTimeout",
    "BackendUnavailable",
    "ContextLengthExceeded",
    "FieldError",
    "Forbidden",
    "InvalidRequest",
    "ModelNotFound",
    "NotFound",
    "Overloaded",
    "PayloadTooLarge",
    "RateLimited",
    "RequestTimeout",
    "ServiceError",
    "Unauthorized",
    "rename_param",
]


class ContextLengthExceeded(InvalidRequest):
    error_type = "context_length_exceeded"


class FieldError(InvalidRequest):
    """A 400 whose message starts with the field's name (``options.seed is not supported by
    the ollama backend``), so that the message follows the field when a surface renames it."""

    def __init__(self, param: str, problem: str) -> None:
        self.problem = problem
        super().__init__(f"{param} {problem}", param=param)


class AboveLimit(FieldError):
    """``max_tokens is 20000, above this gateway's limit of 16384 (LIFTOFF_MAX_TOKENS_LIMIT)``."""

    def __init__(self, param: str, value: int, limit: int, setting: str) -> None:
        super().__init__(param, f"is {value}, above this gateway's limit of {limit} ({setting})")


def rename_param(error: ServiceError, param: str) -> None:
    """Point ``error`` at ``param`` (a surface's name for the field), in its message too when
    the message starts with the field's name."""
    if isinstance(error, FieldError):
        error.message = f"{param} {error.problem}"
    error.param = param


class RateLimited(RetryLater):
    status_code = 429
    error_type = "rate_limit_exceeded"


class Overloaded(Unavailable):
    error_type = "overloaded"


class ModelNotFound(NotFound):
    error_type = "model_not_found"

    def __init__(self, model: str, available: list[str]) -> None:
        served = ", ".join(available) if available else "none"
        super().__init__(f"model {model!r} is not served here; available: {served}", param="model")
        self.model = model


class BackendError(ServiceError):
    status_code = 502
    error_type = "backend_error"


class BackendUnavailable(BackendError):
    status_code = 503
    error_type = "backend_unavailable"
    retry_after_seconds = 5

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_seconds)}


class BackendTimeout(BackendError):
    status_code = 504
    error_type = "backend_timeout"
