"""The gateway's exceptions. Every failure a client can see is one of these.

    GatewayError                 500  something we did not anticipate
     ├── InvalidRequest          400  the request itself is wrong (names the field)
     │    └── ContextLengthExceeded 400  prompt longer than the model's context window
     ├── Unauthorized            401  no API key, or not a valid one (never says which)
     ├── RequestTimeout          408  the request body arrived too slowly
     ├── PayloadTooLarge         413  body over the configured limit
     ├── ModelNotFound           404  the model is not served here
     ├── RateLimited             429  the key used up its requests or tokens per minute
     ├── Overloaded              503  every generation slot and queue place is taken
     └── BackendError            502  the backend answered with an error
          ├── BackendUnavailable 503  the backend cannot be reached or is not ready
          └── BackendTimeout     504  the backend took longer than the request timeout

Backends translate their upstream errors into this tree (``raise ... from exc``); the
protocol layers render it in their own wire shape. Messages never carry secrets.
"""

from __future__ import annotations

import math


class GatewayError(Exception):
    status_code = 500
    error_type = "server_error"

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param

    @property
    def headers(self) -> dict[str, str]:
        return {}


class InvalidRequest(GatewayError):
    status_code = 400
    error_type = "invalid_request_error"


class ContextLengthExceeded(InvalidRequest):
    error_type = "context_length_exceeded"


class RequestTimeout(GatewayError):
    status_code = 408
    error_type = "request_timeout"


class PayloadTooLarge(GatewayError):
    status_code = 413
    error_type = "payload_too_large"


class Unauthorized(GatewayError):
    status_code = 401
    error_type = "authentication_error"

    @property
    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Bearer realm="liftoff"'}


class _RetryLater(GatewayError):
    """An error the client should retry after ``retry_after`` seconds."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(max(1, math.ceil(self.retry_after)))}


class RateLimited(_RetryLater):
    status_code = 429
    error_type = "rate_limit_exceeded"


class Overloaded(_RetryLater):
    status_code = 503
    error_type = "overloaded"


class ModelNotFound(GatewayError):
    status_code = 404
    error_type = "model_not_found"

    def __init__(self, model: str, available: list[str]) -> None:
        served = ", ".join(available) if available else "none"
        super().__init__(f"model {model!r} is not served here; available: {served}", param="model")
        self.model = model


class BackendError(GatewayError):
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
