"""What a ``GenerationRequest`` becomes in Gemini's ``generateContent`` request: the one
place that says which fields the gemini backend honours.

- ``SAMPLING_FIELDS`` maps each ``SamplingOptions`` field to its ``GenerationConfig`` field;
- every other field of the options, of the request and of its messages is refused with a 400
  naming it unless it holds its neutral value, so a field the core grows later is never
  silently dropped here. To honour one, map it here (and in ``_config_value`` when its value
  needs reshaping), with a test in ``tests/api/backends/test_gemini.py``;
- system messages become the ``systemInstruction`` (several are joined with a blank line),
  assistant turns Gemini's ``model`` role, consecutive turns of one role one ``Content``; a
  prompt is one user turn (Gemini has no raw-completion method);
- images become ``inlineData`` parts (their media type from the data URL, or from the
  image's first bytes); an image given by web URL is refused (Gemini reads its own
  storage's URIs, not the web's);
- tools become ``functionDeclarations`` (``parametersJsonSchema``: the JSON schema as sent),
  ``tool_choice`` the ``functionCallingConfig`` mode (``auto`` AUTO, ``none`` NONE,
  ``required`` ANY, a named function ANY with ``allowedFunctionNames``); an assistant turn's
  calls become ``functionCall`` parts and a tool turn a ``functionResponse`` part
  (``{"result": <its text>}``, named after the call it answers). ``parallel_tool_calls:
  false`` is refused: Gemini cannot be told to call one function at a time;
- ``response_format`` becomes ``responseMimeType: application/json``, with
  ``responseJsonSchema`` for a schema.

Gemini API reference: ``models.generateContent`` (``Content``, ``Part``, ``Tool``,
``ToolConfig``, ``GenerationConfig``).
"""

from __future__ import annotations

import base64
import dataclasses
import json
from typing import Any

from google.genai import types

from liftoff.api.backends.base import ChatMessage, GenerationRequest, Image, SamplingOptions
from liftoff.api.errors import InvalidRequest

MAX_STOP_SEQUENCES = 5  # GenerationConfig.stopSequences: "up to 5"

# What each SamplingOptions field becomes in Gemini's GenerationConfig: the one table of
# what this backend honours. To honour a new field, add it here (and to _config_value when
# its value needs reshaping); until then it is refused unless it holds its neutral value.
SAMPLING_FIELDS: dict[str, str] = {
    "temperature": "temperature",
    "top_p": "top_p",
    "top_k": "top_k",
    "max_tokens": "max_output_tokens",
    "stop": "stop_sequences",
    "seed": "seed",
    "frequency_penalty": "frequency_penalty",
    "presence_penalty": "presence_penalty",
}
# keep_alive: the backend refuses 0 itself (Gemini's models are never unloaded by a request).
_REQUEST_FIELDS = {"model", "messages", "prompt", "options", "keep_alive", "tools", "tool_choice",
                   "parallel_tool_calls", "response_format"}  # fmt: skip
_MESSAGE_FIELDS = {"role", "content", "images", "tool_calls", "tool_call_id", "name"}
_MODES = {"auto": "AUTO", "none": "NONE", "required": "ANY"}
# An image's media type from its first bytes, when its data came without one (Ollama's).
_MAGIC = {b"\x89PNG": "image/png", b"\xff\xd8\xff": "image/jpeg", b"GIF8": "image/gif",
          b"RIFF": "image/webp"}  # fmt: skip


def gemini_contents(request: GenerationRequest) -> tuple[list[types.Content], str | None]:
    """The request's turns as Gemini ``contents``, and its system instruction."""
    _refuse_unmapped(request, _REQUEST_FIELDS, prefix="")
    if request.parallel_tool_calls is False:
        raise InvalidRequest(
            "parallel_tool_calls false is not supported by the gemini backend: Gemini cannot "
            "be told to call one function at a time",
            param="parallel_tool_calls",
        )
    if request.prompt is not None:
        return [types.Content(role="user", parts=[types.Part(text=request.prompt)])], None
    system: list[str] = []
    contents: list[types.Content] = []
    for i, message in enumerate(request.messages or ()):
        _refuse_unmapped(message, _MESSAGE_FIELDS, prefix=f"messages.{i}.")
        if message.role == "system":
            system.append(message.content)
            continue
        role = _role(message, i)
        parts = _parts(message, i)
        if contents and contents[-1].role == role and contents[-1].parts is not None:
            contents[-1].parts.extend(parts)
        else:
            contents.append(types.Content(role=role, parts=parts))
    if not contents:
        raise InvalidRequest(
            "Gemini needs a user or assistant message besides system ones", param="messages"
        )
    return contents, "\n\n".join(system) if system else None


def generation_config(
    options: SamplingOptions, system: str | None, request: GenerationRequest | None = None
) -> types.GenerateContentConfig:
    """Gemini's ``GenerationConfig`` for ``options`` (and the request's tools and response
    format); raises ``InvalidRequest`` naming a field this backend cannot honour."""
    _refuse_unmapped(options, set(SAMPLING_FIELDS), prefix="")
    values = {
        gemini: _config_value(field, getattr(options, field))
        for field, gemini in SAMPLING_FIELDS.items()
    }
    if request is not None:
        values.update(_tool_config(request), **_response_format(request))
    return types.GenerateContentConfig(
        **{key: value for key, value in values.items() if value is not None},
        system_instruction=system,
        candidate_count=1,
        # The gateway never lets the SDK call Python functions on a model's behalf.
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )


def _tool_config(request: GenerationRequest) -> dict[str, Any]:
    if not request.tools:
        return {}
    declarations = [
        types.FunctionDeclaration(
            name=tool.name,
            description=tool.description or None,
            parameters_json_schema=dict(tool.parameters),
        )
        for tool in request.tools
    ]
    choice = request.tool_choice or "auto"
    calling = types.FunctionCallingConfig(
        mode=_MODES.get(choice, "ANY"),
        allowed_function_names=None if choice in _MODES else [choice],
    )
    return {
        "tools": [types.Tool(function_declarations=declarations)],
        "tool_config": types.ToolConfig(function_calling_config=calling),
    }


def _response_format(request: GenerationRequest) -> dict[str, Any]:
    response_format = request.response_format
    if response_format is None:
        return {}
    schema = response_format.schema
    return {
        "response_mime_type": "application/json",
        "response_json_schema": dict(schema) if schema is not None else None,
    }


def _parts(message: ChatMessage, index: int) -> list[types.Part]:
    """A turn's parts: its text (when there is any), images, calls or call result."""
    if message.role == "tool":
        if message.name is None:
            raise InvalidRequest(
                f"messages.{index}.tool_call_id names no earlier tool call; Gemini needs the "
                "function's name",
                param=f"messages.{index}.tool_call_id",
            )
        response = types.FunctionResponse(
            id=message.tool_call_id, name=message.name, response={"result": message.content}
        )
        return [types.Part(function_response=response)]
    parts = [types.Part(text=message.content)] if message.content else []
    parts += [_image(image, index) for image in message.images]
    for call in message.tool_calls:
        try:
            arguments = json.loads(call.arguments)
        except ValueError:
            arguments = None
        if not isinstance(arguments, dict):
            raise InvalidRequest(
                f"messages.{index}.tool_calls: arguments must be a JSON object",
                param=f"messages.{index}.tool_calls",
            )
        parts.append(
            types.Part(function_call=types.FunctionCall(id=call.id, name=call.name, args=arguments))
        )
    return parts or [types.Part(text=message.content)]


def _image(image: Image, index: int) -> types.Part:
    if image.data is None:
        raise InvalidRequest(
            f"messages.{index}.images: the gemini backend takes image data (a data: URL), not "
            "a web URL",
            param=f"messages.{index}.images",
        )
    data = base64.b64decode(image.data)
    media_type = image.media_type or next(
        (kind for magic, kind in _MAGIC.items() if data.startswith(magic)), None
    )
    if media_type is None:
        raise InvalidRequest(
            f"messages.{index}.images: not a PNG, JPEG, GIF or WebP image",
            param=f"messages.{index}.images",
        )
    return types.Part(inline_data=types.Blob(mime_type=media_type, data=data))


def _config_value(field: str, value: Any) -> Any:
    if field == "stop":
        if len(value) > MAX_STOP_SEQUENCES:
            raise InvalidRequest(
                f"Gemini takes at most {MAX_STOP_SEQUENCES} stop sequences", param="stop"
            )
        return list(value) or None
    return value


def _refuse_unmapped(record: Any, honoured: set[str], *, prefix: str) -> None:
    """A dataclass field outside ``honoured`` holding anything but its default is refused."""
    for field in dataclasses.fields(record):
        if field.name in honoured:
            continue
        if field.default is not dataclasses.MISSING:
            neutral = field.default
        elif field.default_factory is not dataclasses.MISSING:
            neutral = field.default_factory()
        else:
            neutral = None
        if getattr(record, field.name) != neutral:
            raise InvalidRequest(
                f"{prefix}{field.name} is not supported by the gemini backend",
                param=f"{prefix}{field.name}",
            )


def _role(message: ChatMessage, index: int) -> str:
    if message.role in ("user", "tool"):  # a function's result is the user's turn
        return "user"
    if message.role == "assistant":
        return "model"
    raise InvalidRequest(
        f"the gemini backend does not take {message.role!r} messages",
        param=f"messages.{index}.role",
    )
