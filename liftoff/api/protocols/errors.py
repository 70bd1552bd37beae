"""The gateway's errors on the wire: one shape per protocol, chosen by route prefix.

OpenAI routes (``/v1/...``) answer ``{"error": {"message", "type", "param", "code"}}``;
Ollama routes, Vertex and health answer ``{"error": "message"}`` as Ollama does.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from liftoff.server.errors import ErrorShapes, openai_error_body, plain_error_body
from liftoff.server.openapi import OpenAIError, PlainError, error_responses

SHAPES = ErrorShapes(plain_error_body, {"/v1/": openai_error_body})

# Every status a generation route can answer, for the OpenAPI document.
_STATUSES = {
    400: "invalid request (the message names the field)",
    401: "missing or invalid API key",
    404: "unknown model or route",
    408: "the request body arrived too slowly",
    413: "request body too large",
    429: "rate limit reached; see Retry-After",
    502: "the backend failed",
    503: "backend unavailable or gateway overloaded; see Retry-After",
    504: "the backend took too long",
}


def documented_errors(model: type[BaseModel]) -> dict[int | str, dict[str, Any]]:
    return error_responses(model, _STATUSES)


OPENAI_ERRORS = documented_errors(OpenAIError)
OLLAMA_ERRORS = documented_errors(PlainError)
