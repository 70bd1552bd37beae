"""The gateway's errors on the wire: one shape per protocol, chosen by route prefix, and
each surface's names for the fields errors point at.

OpenAI routes (``/v1/...``) answer ``{"error": {"message", "type", "param", "code"}}``;
Ollama routes, Vertex and health answer ``{"error": "message"}`` as Ollama does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from liftoff.api.errors import ServiceError, rename_param
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


class FieldNames:
    """How one surface names the fields of a ``GenerationRequest``, for its errors.

    The core and the backends point at fields as ``GenerationRequest`` names them
    (``options.max_tokens``, ``messages.2``); a surface maps a name, or its longest dotted
    prefix, to its own wire name. Names it does not map are already its own::

        >>> names = FieldNames({"options": "", "options.max_tokens": "max_completion_tokens"})
        >>> names.wire("options.max_tokens"), names.wire("options.top_p"), names.wire("messages.2")
        ('max_completion_tokens', 'top_p', 'messages.2')
    """

    def __init__(self, names: Mapping[str, str], *, images: str = "images") -> None:
        self._names = dict(names)
        self._images = images  # where a message's images are: "images", or OpenAI's "content"

    def wire(self, param: str) -> str:
        if param.startswith("messages.") and param.endswith(".images"):
            param = f"{param.removesuffix('.images')}.{self._images}"
        return self._wire(param)

    def _wire(self, param: str) -> str:
        head, rest = param, ""
        while head not in self._names:
            head, dot, last = head.rpartition(".")
            if not dot:
                return param
            rest = f"{last}.{rest}" if rest else last
        name = self._names[head]
        return f"{name}.{rest}" if name and rest else name or rest

    def rename(self, error: ServiceError) -> None:
        """Point ``error`` at the field by this surface's name for it (message included)."""
        if error.param is not None:
            wire = self.wire(error.param)
            if wire != error.param:
                rename_param(error, wire)
