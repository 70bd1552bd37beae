"""What a ``GenerationRequest`` becomes in Gemini's ``generateContent`` request: the one
place that says which fields the gemini backend honours.

- ``SAMPLING_FIELDS`` maps each ``SamplingOptions`` field to its ``GenerationConfig`` field;
- every other field of the options, of the request and of its messages is refused with a 400
  naming it unless it holds its neutral value, so a field the core grows later is never
  silently dropped here. To honour one, map it here (and in ``_config_value`` when its value
  needs reshaping), with a test in ``tests/api/backends/test_gemini.py``;
- system messages become the ``systemInstruction`` (several are joined with a blank line),
  assistant turns Gemini's ``model`` role, consecutive turns of one role one ``Content``; a
  prompt is one user turn (Gemini has no raw-completion method).

Gemini API reference: ``models.generateContent`` (``Content``, ``GenerationConfig``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from google.genai import types

from liftoff.api.backends.base import ChatMessage, GenerationRequest, SamplingOptions
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
}
_REQUEST_FIELDS = {"model", "messages", "prompt", "options"}
_MESSAGE_FIELDS = {"role", "content"}


def gemini_contents(request: GenerationRequest) -> tuple[list[types.Content], str | None]:
    """The request's turns as Gemini ``contents``, and its system instruction."""
    _refuse_unmapped(request, _REQUEST_FIELDS, prefix="")
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
        part = types.Part(text=message.content)
        if contents and contents[-1].role == role and contents[-1].parts is not None:
            contents[-1].parts.append(part)
        else:
            contents.append(types.Content(role=role, parts=[part]))
    if not contents:
        raise InvalidRequest(
            "Gemini needs a user or assistant message besides system ones", param="messages"
        )
    return contents, "\n\n".join(system) if system else None


def generation_config(options: SamplingOptions, system: str | None) -> types.GenerateContentConfig:
    """Gemini's ``GenerationConfig`` for ``options``; raises ``InvalidRequest`` naming a
    field this backend cannot honour."""
    _refuse_unmapped(options, set(SAMPLING_FIELDS), prefix="")
    values = {
        gemini: _config_value(field, getattr(options, field))
        for field, gemini in SAMPLING_FIELDS.items()
    }
    return types.GenerateContentConfig(
        **{key: value for key, value in values.items() if value is not None},
        system_instruction=system,
        candidate_count=1,
        # The gateway never lets the SDK call Python functions on a model's behalf.
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )


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
    if message.role == "user":
        return "user"
    if message.role == "assistant":
        return "model"
    raise InvalidRequest(
        f"the gemini backend does not take {message.role!r} messages",
        param=f"messages.{index}.role",
    )
