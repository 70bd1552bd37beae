"""Tool calls through structured output: the gateway's own tool calling, for engines that
cannot force a call themselves.

llama.cpp (xllamacpp 2026.10) renders tools only through a Jinja chat template and enforces
neither ``tool_choice: "required"`` nor a named function; Ollama has no ``tool_choice`` at
all. What both do enforce is a JSON schema on the answer (a grammar). So the gateway:

1. describes the tools and the answer's shape in a system message put first;
2. writes earlier tool calls and tool results as plain turns (an assistant turn holding the
   call's JSON, a user turn holding the result), which any chat template renders;
3. constrains the answer with ``answer_schema``: one call ``{"name": ..., "arguments":
   {...}}`` whose arguments match that tool's parameters schema (its objects closed to keys
   they do not list, see ``closed``), or an array of such calls
   when ``parallel_tool_calls`` is true; under ``auto`` also ``{"content": "..."}``, a
   plain answer, so the model decides; a named ``tool_choice`` allows only that tool;
4. reads the answer back (``read_answer``): calls become ``ToolCall`` events with fresh ids
   and finish reason ``tool_calls``; ``{"content": ...}`` becomes the text. The answer is
   buffered, so it arrives whole at the end of a stream.

The shape ``{"name", "arguments"}`` is the JSON most tool-trained models already emit
(Hermes, Qwen, Llama 3.x); ``{"content"}`` mirrors llama.cpp's former generic tool format.
``tool_choice: "none"`` sends no tools and no schema. Tools together with ``response_format``
are refused (400 naming ``response_format``): the answer has one schema.

    >>> plain, reader = constrained(request)   # request.tools = (Tool("get_weather", ...),)
    >>> events = reader(backend.generate(plain))
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

from liftoff.api.backends.base import (
    ChatMessage,
    Finish,
    GenerationEvent,
    GenerationRequest,
    ResponseFormat,
    TextDelta,
    Tool,
    ToolCall,
)
from liftoff.api.errors import BackendError, InvalidRequest

# Calls one answer may hold when parallel calls are allowed; bounds a base model that
# repeats itself.
MAX_PARALLEL_CALLS = 8

Reader = Callable[[AsyncIterator[GenerationEvent]], AsyncIterator[GenerationEvent]]


def new_call_id() -> str:
    """A fresh tool-call id in OpenAI's style (``call_`` and 24 hex digits)."""
    return f"call_{uuid.uuid4().hex[:24]}"


def constrained(request: GenerationRequest) -> tuple[GenerationRequest, Reader | None]:
    """``request`` without tools, as a plain chat whose answer is constrained to the tool-call
    JSON, and the reader that turns the answer back into tool calls (None when the request
    calls no tools: ``tool_choice: "none"``, or no tools). Raises ``InvalidRequest`` for
    tools together with ``response_format``."""
    if request.messages is None:
        return request, None
    calling = bool(request.tools) and request.tool_choice != "none"
    if calling and request.response_format is not None:
        raise InvalidRequest(
            "response_format cannot be combined with tools on this backend (the answer is "
            "constrained to tool calls); send one or the other",
            param="response_format",
        )
    messages = tuple(_plain_turn(message) for message in request.messages)
    plain = replace(request, tools=(), tool_choice=None, parallel_tool_calls=None)
    if not calling:
        return replace(plain, messages=messages), None
    tools = _allowed(request)
    parallel = bool(request.parallel_tool_calls)
    optional = request.tool_choice in (None, "auto")
    system = ChatMessage("system", tool_prompt(tools, parallel=parallel, optional=optional))
    schema = answer_schema(tools, parallel=parallel, optional=optional)
    plain = replace(
        plain,
        messages=(system, *messages),
        response_format=ResponseFormat("json_schema", schema, "tool_calls"),
    )
    return plain, _reader({tool.name for tool in tools})


def answer_schema(tools: tuple[Tool, ...], *, parallel: bool, optional: bool) -> dict[str, Any]:
    """The JSON schema of an answer that calls ``tools`` (see the module docstring)."""
    calls = [_call_schema(tool) for tool in tools]
    call: dict[str, Any] = calls[0] if len(calls) == 1 else {"anyOf": calls}
    if parallel:
        call = {"type": "array", "items": call, "minItems": 1, "maxItems": MAX_PARALLEL_CALLS}
    if not optional:
        return call
    content = {
        "type": "object",
        "properties": {"content": {"type": "string"}},
        "required": ["content"],
        "additionalProperties": False,
    }
    return {"anyOf": [call, content]}


def tool_prompt(tools: tuple[Tool, ...], *, parallel: bool, optional: bool) -> str:
    """The system text that describes ``tools`` and the answer's shape to the model."""
    lines = ["You can call these tools (their arguments follow the JSON schema given):"]
    for tool in tools:
        spec = {"name": tool.name, "description": tool.description, "parameters": tool.parameters}
        lines.append(json.dumps(spec, ensure_ascii=False))
    call = '{"name": <tool name>, "arguments": <its arguments>}'
    shape = f"a JSON array of one or more objects {call}" if parallel else f"a JSON object {call}"
    lines.append(f"To call a tool, answer with {shape} and nothing else.")
    if optional:
        lines.append('To answer without a tool, answer with {"content": <your answer>}.')
    return "\n".join(lines)


def _allowed(request: GenerationRequest) -> tuple[Tool, ...]:
    if request.tool_choice in (None, "auto", "none", "required"):
        return request.tools
    return tuple(tool for tool in request.tools if tool.name == request.tool_choice)


def _call_schema(tool: Tool) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "name": {"const": tool.name},
            "arguments": closed(dict(tool.parameters)) or {"type": "object"},
        },
        "required": ["name", "arguments"],
        "additionalProperties": False,
    }


def closed(schema: Any) -> Any:
    """``schema`` with every object that lists its properties closed to others
    (``additionalProperties: false`` where it says nothing): JSON Schema allows extra keys
    by default, and a small model fills them in (``"type"`` beside a tool's real arguments),
    which a function called with them rejects. Arguments that validate against the closed
    schema validate against the original."""
    if isinstance(schema, list):
        return [closed(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {key: closed(value) for key, value in schema.items()}
    if "properties" in result and "additionalProperties" not in result:
        result["additionalProperties"] = False
    return result


def _plain_turn(message: ChatMessage) -> ChatMessage:
    """A turn any chat template renders: calls as their JSON, a result as a user turn."""
    if message.tool_calls:
        calls = [{"name": c.name, "arguments": _arguments(c)} for c in message.tool_calls]
        shown = json.dumps(calls[0] if len(calls) == 1 else calls, ensure_ascii=False)
        text = f"{message.content}\n{shown}" if message.content else shown
        return ChatMessage("assistant", text)
    if message.role == "tool":
        name = message.name or "the tool"
        return ChatMessage("user", f"Result of {name}: {message.content}")
    return message


def _arguments(call: ToolCall) -> Any:
    try:
        return json.loads(call.arguments)
    except ValueError:
        return call.arguments


def _reader(names: set[str]) -> Reader:
    async def read(events: AsyncIterator[GenerationEvent]) -> AsyncIterator[GenerationEvent]:
        parts: list[str] = []
        async for event in events:
            if isinstance(event, TextDelta):
                parts.append(event.text)
            elif isinstance(event, Finish):
                for answer in read_answer("".join(parts), event, names):
                    yield answer
            else:
                yield event

    return read


def read_answer(text: str, finish: Finish, names: set[str]) -> list[GenerationEvent]:
    """The events of a constrained answer: its calls, or its content, then the finish.

    An answer cut by the token limit is passed on as text with reason ``length``; an answer
    that is not the constrained JSON (a backend that ignored the schema) is a
    ``BackendError``.
    """
    if finish.reason == "length":
        return [TextDelta(text), finish] if text else [finish]
    try:
        answer = json.loads(text)
    except ValueError:
        raise BackendError(
            "the model's answer is not the tool-call JSON it was constrained to"
        ) from None
    if isinstance(answer, dict) and set(answer) == {"content"}:
        content = str(answer["content"])
        return [TextDelta(content), finish] if content else [finish]
    calls = answer if isinstance(answer, list) else [answer]
    events: list[GenerationEvent] = []
    for call in calls:
        if not (isinstance(call, dict) and call.get("name") in names):
            raise BackendError("the model called a tool the request does not offer")
        arguments = json.dumps(call.get("arguments", {}), ensure_ascii=False)
        events.append(ToolCall(new_call_id(), call["name"], arguments))
    events.append(Finish("tool_calls", finish.usage))
    return events
