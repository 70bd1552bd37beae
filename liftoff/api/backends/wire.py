"""What the backends share on the wire: the one place sampling options become request
fields, the OpenAI-format request body, and the one reading of finish reasons.

A backend names each ``SamplingOptions`` field it honours in a table; an option a request
sets that the table does not name is refused with a 400 naming ``options.<field>`` (which
each surface renames to its own name for it), never dropped. Adding an option means a field
on ``SamplingOptions`` and a line in each table::

    >>> options = SamplingOptions(max_tokens=8, stop=("\\n",))
    >>> sampling_fields(options, OLLAMA_NAMES, backend="ollama")
    {'num_predict': 8, 'stop': ['\\n']}
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from liftoff.api.backends.base import (
    ChatMessage,
    FinishReason,
    GenerationRequest,
    Image,
    ResponseFormat,
    SamplingOptions,
    Tool,
)
from liftoff.api.errors import FieldError

# OpenAI's names, which llama.cpp's server and every OpenAI-compatible server take
# (`top_k` is not in OpenAI's schema; vLLM, llama.cpp and TGI accept it).
OPENAI_NAMES: Mapping[str, str] = {
    "temperature": "temperature",
    "top_p": "top_p",
    "top_k": "top_k",
    "max_tokens": "max_tokens",
    "stop": "stop",
    "seed": "seed",
}
# Ollama's `options` (docs/api.md, "Valid Parameters and Values").
OLLAMA_NAMES: Mapping[str, str] = {**OPENAI_NAMES, "max_tokens": "num_predict"}

_SAMPLING_FIELDS = tuple(field.name for field in dataclasses.fields(SamplingOptions))


def sampling_fields(
    options: SamplingOptions, names: Mapping[str, str], *, backend: str
) -> dict[str, Any]:
    """The options that are set, under the backend's ``names``; sequences become lists.

    Raises ``FieldError`` (400, param ``options.<field>``) for an option that is set but
    that ``names`` does not name: the backend cannot honour it.
    """
    fields: dict[str, Any] = {}
    for field in _SAMPLING_FIELDS:
        value = getattr(options, field)
        if value is None or value == ():
            continue
        name = names.get(field)
        if name is None:
            raise FieldError(f"options.{field}", f"is not supported by the {backend} backend")
        fields[name] = list(value) if isinstance(value, tuple) else value
    return fields


def openai_body(request: GenerationRequest, *, backend: str) -> dict[str, Any]:
    """The streamed chat or completion request of OpenAI's API for ``request``, usage included
    in the stream; without ``model``, which the caller sets when its server needs it."""
    body: dict[str, Any] = {"stream": True, "stream_options": {"include_usage": True}}
    if request.messages is not None:
        body["messages"] = [openai_message(m) for m in request.messages]
    else:
        body["prompt"] = request.prompt or ""
    body.update(sampling_fields(request.options, OPENAI_NAMES, backend=backend))
    if request.tools:
        body["tools"] = [openai_tool(tool) for tool in request.tools]
        if request.tool_choice is not None:
            body["tool_choice"] = openai_tool_choice(request.tool_choice)
        if request.parallel_tool_calls is not None:
            body["parallel_tool_calls"] = request.parallel_tool_calls
    if request.response_format is not None:
        body["response_format"] = openai_response_format(request.response_format)
    return body


def openai_message(message: ChatMessage) -> dict[str, Any]:
    """A turn in OpenAI's shape: images as ``image_url`` parts (data: URLs), calls with their
    arguments as JSON text, a tool result with the id of the call it answers."""
    turn: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.images:
        parts: list[dict[str, Any]] = [{"type": "text", "text": message.content}]
        parts += [{"type": "image_url", "image_url": {"url": image_url(i)}} for i in message.images]
        turn["content"] = parts
    if message.tool_calls:
        turn["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in message.tool_calls
        ]
    if message.tool_call_id is not None:
        turn["tool_call_id"] = message.tool_call_id
    return turn


def image_url(image: Image) -> str:
    """An image as OpenAI's ``image_url.url``: its URL, or its data as a data: URL."""
    if image.url is not None:
        return image.url
    return f"data:{image.media_type or 'image/png'};base64,{image.data}"


def openai_tool(tool: Tool) -> dict[str, Any]:
    function: dict[str, Any] = {"name": tool.name, "parameters": dict(tool.parameters)}
    if tool.description:
        function["description"] = tool.description
    if tool.strict is not None:
        function["strict"] = tool.strict
    return {"type": "function", "function": function}


def openai_tool_choice(choice: str) -> str | dict[str, Any]:
    if choice in ("auto", "none", "required"):
        return choice
    return {"type": "function", "function": {"name": choice}}


def openai_response_format(response_format: ResponseFormat) -> dict[str, Any]:
    if response_format.type == "json_object":
        return {"type": "json_object"}
    spec: dict[str, Any] = {
        "name": response_format.name or "response",
        "schema": dict(response_format.schema or {}),
    }
    if response_format.strict is not None:
        spec["strict"] = response_format.strict
    return {"type": "json_schema", "json_schema": spec}


def finish_reason(reason: str | None) -> FinishReason:
    """A backend's reason for ending (OpenAI's ``finish_reason``, Ollama's ``done_reason``) as
    the gateway's: ``length`` when the token limit cut the answer, ``tool_calls`` when the
    answer called tools, else ``stop``."""
    if reason == "length":
        return "length"
    return "tool_calls" if reason == "tool_calls" else "stop"
