"""What the person at the browser reads when the gateway is down or refuses.

Every upstream failure is translated here, in one place, into one sentence that says what
happened and what to do; the SDK's exception is kept as the cause for the log. Messages never
carry the UI's own key (the gateway never echoes keys, and nothing here adds one).

    UpstreamError
     ├── Unreachable      nothing answers at the URL, or it answered too slowly
     ├── Refused          the server answered 4xx: the key, a limit, or the request itself
     └── Failed           the server answered 5xx, or a stream broke midway
"""

from __future__ import annotations

import openai

# The gateway's messages are shown as they are, up to this many characters.
MAX_DETAIL_CHARS = 500


class UpstreamError(Exception):
    """A model server could not answer; ``message`` is written for the person chatting."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Unreachable(UpstreamError):
    pass


class Refused(UpstreamError):
    pass


class Failed(UpstreamError):
    pass


def translate(exc: openai.OpenAIError, *, source: str, url: str) -> UpstreamError:
    """The :class:`UpstreamError` a failed call to ``source`` (at ``url``) means.

    ``source`` names the server for a person ("the gateway", "the retrieval service").
    """
    if isinstance(exc, openai.APITimeoutError):
        return Unreachable(f"{_cap(source)} at {url} did not answer in time; try again.")
    if isinstance(exc, openai.APIConnectionError):
        return Unreachable(
            f"Cannot reach {source} at {url}: is it running? (`make run` starts the local stack.)"
        )
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        detail = _detail(exc)
        retry = _retry_after(exc)
        if status == 401:
            return Refused(
                f"{_cap(source)} refused the UI's API key (401). The operator sets it with "
                "LIFTOFF_UI_GATEWAY_API_KEY (one of the gateway's LIFTOFF_API_KEYS)."
            )
        if status == 403:
            return Refused(f"{_cap(source)} does not allow this (403): {detail}")
        if status == 429:
            return Refused(f"{_cap(source)} is rate-limiting this UI (429){retry}: {detail}")
        if status < 500:
            return Refused(f"{_cap(source)} refused the request ({status}): {detail}")
        if status in (502, 503, 504):
            return Failed(
                f"{_cap(source)} or the model behind it is unavailable ({status}){retry}: {detail}"
            )
        return Failed(f"{_cap(source)} failed ({status}): {detail}")
    if isinstance(exc, openai.APIError):  # an error event inside a stream
        return Failed(f"The answer broke off: {_clip(exc.message)}")
    return Failed(f"{_cap(source)} could not be used: {type(exc).__name__}")


def _detail(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error", body)
        message = error.get("message") if isinstance(error, dict) else error
        if isinstance(message, str) and message:
            return _clip(message)
    return _clip(exc.message)


def _retry_after(exc: openai.APIStatusError) -> str:
    value = exc.response.headers.get("retry-after", "")
    return f", retry after {value} s" if value.isdigit() else ""


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_DETAIL_CHARS else text[: MAX_DETAIL_CHARS - 1] + "…"


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]
