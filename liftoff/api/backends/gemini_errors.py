"""Gemini's failures in the gateway's terms: the one place they are translated.

=========================================================  ====================================
upstream (google-genai, google-auth, the HTTP library)     the gateway
=========================================================  ====================================
401, 403, 400 with ``API_KEY_INVALID``                      503 ``BackendUnavailable`` naming the
                                                            credential and Google's reason code,
                                                            never the credential or Google's text
google-auth: no credentials, refresh refused, metadata      503 ``BackendUnavailable``
400 "input token count ... exceeds the maximum"             400 ``ContextLengthExceeded``
other 400 (``INVALID_ARGUMENT``, ``FAILED_PRECONDITION``)   400 ``InvalidRequest``
404 (the configured model is unknown upstream)              503 ``BackendUnavailable``
429 ``RESOURCE_EXHAUSTED`` (quota)                          429 ``RateLimited``; ``Retry-After``
                                                            from ``RetryInfo.retryDelay``, else
                                                            Google's ``Retry-After`` header
500, 502, 503 ``UNAVAILABLE``, connection failures          503 ``BackendUnavailable``
504 ``DEADLINE_EXCEEDED``, HTTP timeouts                    504 ``BackendTimeout``
anything else                                               502 ``BackendError``
=========================================================  ====================================

Google's error body is a ``google.rpc.Status`` (https://cloud.google.com/apis/design/errors):
``{"error": {"code", "message", "status", "details": [{"@type": ...ErrorInfo, "reason"},
{"@type": ...RetryInfo, "retryDelay": "37s"}]}}``.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any

import google.auth.exceptions
import httpx
import httpx2
import pydantic
from google.genai import errors as genai_errors

from liftoff.api.errors import (
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    ContextLengthExceeded,
    InvalidRequest,
    RateLimited,
    ServiceError,
)

_ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
_RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
# google.protobuf.Duration in JSON: seconds with an "s" suffix, e.g. "37s" or "1.500s".
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)s$")
_CONTEXT_MARKERS = ("input token count", "exceeds the maximum number of tokens")
_DEFAULT_RETRY_AFTER = 5.0

_TIMEOUTS = (httpx.TimeoutException, httpx2.TimeoutException)
_TRANSPORT = (httpx.TransportError, httpx2.TransportError, OSError)


class GeminiErrors:
    """Translates one backend's upstream failures; ``credential`` says which credential it
    uses, in words a person can act on (never the credential itself).

    >>> errors = GeminiErrors("the Gemini API key (GEMINI_API_KEY)")
    >>> with errors.translated("gemini-2.5-flash"):
    ...     await client.aio.models.get(model="gemini-2.5-flash")
    """

    def __init__(self, credential: str) -> None:
        self.credential = credential

    @contextlib.contextmanager
    def translated(self, model: str) -> Iterator[None]:
        """Re-raise any upstream failure inside the block as a gateway ``ServiceError``."""
        try:
            yield
        except ServiceError:
            raise
        except Exception as exc:
            raise self.translate(exc, model) from exc

    def translate(self, exc: Exception, model: str) -> ServiceError:
        if isinstance(exc, genai_errors.APIError):
            return self._api_error(exc, model)
        if isinstance(exc, google.auth.exceptions.GoogleAuthError):
            return self.credential_error(exc)
        if isinstance(exc, _TIMEOUTS):
            return BackendTimeout("Gemini did not answer in time")
        if isinstance(exc, _TRANSPORT):
            return BackendUnavailable(f"cannot reach Gemini: {type(exc).__name__}")
        if isinstance(exc, genai_errors.UnknownApiResponseError | pydantic.ValidationError):
            return BackendError("Gemini sent a response the SDK could not read")
        return BackendError(f"the Gemini SDK failed: {type(exc).__name__}")

    def credential_error(self, exc: google.auth.exceptions.GoogleAuthError) -> ServiceError:
        """google-auth could not produce an access token (no credentials found, the token
        endpoint refused the service account, the metadata server did not answer)."""
        if isinstance(exc, google.auth.exceptions.DefaultCredentialsError):
            # google-auth's own wording names the file or the missing setup, never a key.
            return BackendUnavailable(f"{self.credential} are not usable: {_first_line(exc)}")
        if isinstance(exc, google.auth.exceptions.RefreshError):
            return BackendUnavailable(
                f"{self.credential} were refused when fetching an access token "
                f"({_oauth_error(exc)})"
            )
        return BackendUnavailable(
            f"cannot fetch an access token for {self.credential}: {type(exc).__name__}"
        )

    def _api_error(self, exc: genai_errors.APIError, model: str) -> ServiceError:
        code = exc.code
        status = exc.status or "UNKNOWN"
        message = exc.message or status
        reason = _detail(exc.details, _ERROR_INFO, "reason")
        if code in (401, 403) or reason in ("API_KEY_INVALID", "API_KEY_SERVICE_BLOCKED"):
            because = f"{status}, {reason}" if reason else status
            return BackendUnavailable(f"Gemini refused {self.credential} ({code} {because})")
        if code == 429:
            return RateLimited(
                f"Gemini's quota is used up ({status}): {message}",
                retry_after=_retry_after(exc),
            )
        if code == 400 and any(marker in message.lower() for marker in _CONTEXT_MARKERS):
            return ContextLengthExceeded(f"the prompt is too long for {model}: {message}")
        if code in (400, 422):
            return InvalidRequest(f"Gemini refused the request ({status}): {message}")
        if code == 404:
            return BackendUnavailable(
                f"Gemini does not serve {model} to {self.credential} ({status}): check "
                "LIFTOFF_MODEL and LIFTOFF_EMBEDDING_MODEL"
            )
        if code in (408, 504):
            return BackendTimeout(f"Gemini timed out ({status})")
        if code in (500, 502, 503):
            return BackendUnavailable(f"Gemini is unavailable ({code} {status}): {message}")
        return BackendError(f"Gemini answered {code} {status}: {message}")


def _detail(details: Any, kind: str, key: str) -> str | None:
    """A field of the first ``google.rpc`` detail of ``kind`` in an error body."""
    error = details.get("error", details) if isinstance(details, dict) else None
    entries = error.get("details") if isinstance(error, dict) else None
    for entry in entries if isinstance(entries, list) else ():
        if isinstance(entry, dict) and entry.get("@type") == kind and key in entry:
            return str(entry[key])
    return None


def _retry_after(exc: genai_errors.APIError) -> float:
    delay = _detail(exc.details, _RETRY_INFO, "retryDelay")
    match = _DURATION.match(delay or "")
    if match:
        return float(match.group(1))
    header = exc.response.headers.get("retry-after") if exc.response is not None else None
    try:
        return float(header) if header else _DEFAULT_RETRY_AFTER
    except ValueError:  # an HTTP date: rare from Google; the default is close enough
        return _DEFAULT_RETRY_AFTER


def _first_line(exc: Exception) -> str:
    text = str(exc.args[0]) if exc.args else type(exc).__name__
    return text.splitlines()[0][:300]


def _oauth_error(exc: google.auth.exceptions.RefreshError) -> str:
    """The OAuth error code (RFC 6749 section 5.2) of a refused token request, e.g.
    ``invalid_grant``; google-auth passes the token endpoint's JSON as its second argument."""
    body = exc.args[1] if len(exc.args) > 1 else None
    code = body.get("error") if isinstance(body, dict) else None
    if isinstance(code, str):
        return code
    return _first_line(exc)
