"""The gateway's exceptions. Every failure a client can see is one of these.

    ServiceError (liftoff.server.errors)   500  something we did not anticipate
     ├── InvalidRequest                    400  the request itself is wrong (names the field)
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
    "BackendError",
    "BackendTimeout",
    "BackendUnavailable",
    "ContextLengthExceeded",
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
]


class ContextLengthExceeded(InvalidRequest):
    error_type = "context_length_exceeded"


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
