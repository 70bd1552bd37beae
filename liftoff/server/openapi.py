"""What the OpenAPI document says about errors and streams, so clients and fuzzers know
every status a route can answer and in which shape. Each service lists its own statuses."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel


class OpenAIErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None
    code: int


class OpenAIError(BaseModel):
    """``{"error": {"message", "type", "param", "code"}}``"""

    error: OpenAIErrorDetail


class PlainError(BaseModel):
    """``{"error": "message"}``, as Ollama answers."""

    error: str


def error_responses(
    model: type[BaseModel], statuses: Mapping[int, str]
) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a router: each status with its description and error model.
    Errors are JSON even on routes that answer HTML or streams when they succeed."""
    return {
        status: {"model": model, "description": text, "content": {"application/json": {}}}
        for status, text in statuses.items()
    }


def streaming_response(media_type: str) -> dict[int | str, dict[str, Any]]:
    """200 as JSON, or as a stream when the request asks for one."""
    return {200: {"content": {"application/json": {}, media_type: {}}}}
