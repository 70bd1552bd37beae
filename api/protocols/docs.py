"""What the OpenAPI document says about errors and streams, so clients and fuzzers know
every status a route can answer and in which shape."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class OpenAIErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None
    code: int


class OpenAIError(BaseModel):
    error: OpenAIErrorDetail


class OllamaError(BaseModel):
    error: str


_ERRORS = {
    400: "invalid request (the message names the field)",
    401: "missing or invalid API key",
    403: "forbidden",
    404: "unknown model or route",
    408: "the request body arrived too slowly",
    409: "conflict with the current state (e.g. runs that cannot be compared)",
    413: "request body too large",
    429: "rate limit reached; see Retry-After",
    502: "the backend failed",
    503: "backend unavailable or gateway overloaded; see Retry-After",
    504: "the backend took too long",
}


def error_responses(model: type[BaseModel]) -> dict[int | str, dict[str, Any]]:
    # Errors are JSON even on routes that answer HTML or streams when they succeed.
    return {
        status: {"model": model, "description": text, "content": {"application/json": {}}}
        for status, text in _ERRORS.items()
    }


def streaming_response(media_type: str) -> dict[int | str, dict[str, Any]]:
    """200 as JSON, or as a stream when the request asks for one."""
    return {200: {"content": {"application/json": {}, media_type: {}}}}
