"""What the backends share on the wire: the one place sampling options become request
fields, the OpenAI-format request body, the one reading of finish reasons, and the
conversation as chat templates need it.

A backend names each ``SamplingOptions`` field it honours in a table; an option a request
sets that the table does not name is refused with a 400 naming ``options.<field>`` (which
each surface renames to its own name for it), never dropped. Adding an option means a field
on ``SamplingOptions`` and a line in each table that can honour it::

    >>> options = SamplingOptions(max_tokens=8, stop=("\\n",), repeat_penalty=1.3)
    >>> sampling_fields(options, OLLAMA_NAMES, backend="ollama")
    {'num_predict': 8, 'stop': ['\\n'], 'repeat_penalty': 1.3}
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from liftoff.api.backends.base import (
    ChatMessage,
    FinishReason,
    GenerationRequest,
    Image,
    ResponseFormat,
    Role,
    SamplingOptions,
    Tool,
)
from liftoff.api.errors import FieldError

# OpenAI's names, which every OpenAI-compatible server takes. `top_k` and `min_p` are not in
# OpenAI's schema; vLLM, llama.cpp's server, SGLang and TGI take them with these names.
OPENAI_NAMES: Mapping[str, str] = {
    "temperature": "temperature",
    "top_p": "top_p",
    "top_k": "top_k",
    "min_p": "min_p",
    "max_tokens": "max_tokens",
    "stop": "stop",
    "seed": "seed",
    "frequency_penalty": "frequency_penalty",
    "presence_penalty": "presence_penalty",
    "logit_bias": "logit_bias",
    "logprobs": "logprobs",
}
# llama.cpp's OpenAI-compatible endpoints (the embedded engine and llama.cpp's server) also
# take its own sampling parameters (tools/server/README.md, "POST /completion").
LLAMACPP_NAMES: Mapping[str, str] = {
    **OPENAI_NAMES,
    "typical_p": "typical_p",
    "repeat_penalty": "repeat_penalty",
    "repeat_last_n": "repeat_last_n",
}
# Ollama's `options` (api/types.go `Options`); `logprobs` is a top-level request field there.
# Ollama has no logit_bias.
OLLAMA_NAMES: Mapping[str, str] = {
    **{name: wire for name, wire in LLAMACPP_NAMES.items() if name != "logit_bias"},
    "max_tokens": "num_predict",
}

_SAMPLING_FIELDS = tuple(field.name for field in dataclasses.fields(SamplingOptions))


def sampling_fields(
    options: SamplingOptions, names: Mapping[str, str], *, backend: str
) -> dict[str, Any]:
    """The options that are set, under the backend's ``names``: sequences become lists and
    ``logit_bias`` a ``{"token id": bias}`` object, as OpenAI and llama.cpp take it.

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
        if field == "logit_bias":
            value = {str(token): bias for token, bias in value}
        elif isinstance(value, tuple):
            value = list(value)
        fields[name] = value
    return fields


def openai_body(
    request: GenerationRequest,
    *,
    backend: str,
    names: Mapping[str, str] = OPENAI_NAMES,
    messages: Sequence[ChatMessage] | None = None,
    upstream_stops: bool = True,
) -> dict[str, Any]:
    """The streamed chat or completion request of OpenAI's API for ``request``, usage included
    in the stream; without ``model``, which the caller sets when its server needs it.

    ``messages`` replaces the request's (``template_ready``); without ``upstream_stops``
    the stop strings stay out of the body, for a caller that applies them itself.
    ``logprobs`` takes each endpoint's form: ``logprobs`` and ``top_logprobs`` for chats,
    an integer ``logprobs`` for completions. At least one alternative is asked for, since
    llama.cpp returns no log probabilities at all for zero; the caller keeps as many as
    were requested.
    """
    body: dict[str, Any] = {"stream": True, "stream_options": {"include_usage": True}}
    chat = request.messages is not None
    if chat:
        turns = request.messages if messages is None else messages
        body["messages"] = [openai_message(m) for m in turns or ()]
    else:
        body["prompt"] = request.prompt or ""
    fields = sampling_fields(request.options, names, backend=backend)
    logprobs = fields.pop(names.get("logprobs", "logprobs"), None)
    if not upstream_stops:
        fields.pop(names.get("stop", "stop"), None)
    if logprobs is not None:
        if chat:
            body["logprobs"] = True
            body["top_logprobs"] = max(logprobs, 1)
        else:
            body["logprobs"] = max(logprobs, 1)
    body.update(fields)
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


def template_ready(messages: Sequence[ChatMessage]) -> tuple[ChatMessage, ...]:
    """``messages`` arranged so that a chat template renders every word of them.

    Many templates render system text only in a first system turn, or fold it into the next
    user turn (llama.cpp's ``gemma`` does; Gemma's own Jinja template refuses a system turn
    anywhere else): a system message after the first turn, or one that no user turn
    follows, would vanish from the prompt. So:

    - the leading system messages become one (joined by a blank line);
    - a later system message joins the next user message (before its text), or the
      previous one when none follows, or becomes a user turn of its own;
    - a leading system message that no user message follows becomes a user turn.

    A conversation that needs none of this (system first, then turns) is returned as is.

        >>> [m.content for m in template_ready([ChatMessage("user", "Hi"),
        ...                                     ChatMessage("system", "Be brief.")])]
        ['Hi\\n\\nBe brief.']

    A user turn that takes system text keeps its images.
    """
    leading: list[str] = []
    index = 0
    while index < len(messages) and messages[index].role == "system":
        leading.append(messages[index].content)
        index += 1
    turns: list[ChatMessage] = []
    pending: list[str] = []  # later system texts waiting for the next user turn
    for message in messages[index:]:
        if message.role == "system":
            pending.append(message.content)
        elif message.role == "user" and pending:
            turns.append(dataclasses.replace(message, content=_joined(*pending, message.content)))
            pending = []
        else:
            turns.append(message)
    if pending:
        if turns and turns[-1].role == "user":
            turns[-1] = dataclasses.replace(turns[-1], content=_joined(turns[-1].content, *pending))
        else:
            turns.append(ChatMessage("user", _joined(*pending)))
    if leading:
        role: Role = "system" if any(turn.role == "user" for turn in turns) else "user"
        turns.insert(0, ChatMessage(role, _joined(*leading)))
    return tuple(turns)


def _joined(*texts: str) -> str:
    return "\n\n".join(texts)
