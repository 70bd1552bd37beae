"""The request fields for tool calling, structured output and images, in each surface's wire
shape, and what they become in a ``GenerationRequest``.

OpenAI (API reference, "Create chat completion"): ``tools``, ``tool_choice``,
``parallel_tool_calls``, ``response_format``, ``image_url`` content parts, assistant
``tool_calls`` (``arguments`` as JSON text) and ``tool`` messages with ``tool_call_id``.
Ollama (docs/api.md, "Chat request (with tools)", "structured outputs", "with images"):
``tools``, ``format`` (``"json"`` or a JSON schema), ``images`` (base64), assistant
``tool_calls`` (``arguments`` as an object) and ``tool`` messages with ``tool_name``.

Bounds: at most ``MAX_TOOLS`` tools and ``MAX_TOOL_CALLS`` calls per message, function names
as OpenAI allows them (``^[a-zA-Z0-9_-]{1,64}$``), at most ``MAX_IMAGES`` images per message;
images travel inside the request body, so the body limit (``LIFTOFF_MAX_BODY_BYTES``) bounds
their size.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from liftoff.api.backends.base import (
    ChatMessage,
    Image,
    ResponseFormat,
    Tool,
    ToolCall,
    ToolChoice,
)
from liftoff.api.errors import InvalidRequest
from liftoff.api.tools import new_call_id

MAX_TOOLS = 128  # OpenAI: "A max of 128 functions are supported."
MAX_TOOL_CALLS = 128
MAX_IMAGES = 16
MAX_DESCRIPTION = 16_384
MAX_ID = 256
FUNCTION_NAME = r"^[a-zA-Z0-9_-]{1,64}$"
_DATA_URL = re.compile(r"^data:(?P<type>[\w.+-]+/[\w.+-]+)?(;[\w-]+=[^;,]*)*;base64,", re.ASCII)
# What the validators accept, stated for the OpenAPI document (ECMA-262 regular expressions):
# base64 as b64decode(validate=True) reads it, behind a data: URL's prefix or alone.
_BASE64 = r"([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?"
IMAGE_URL_PATTERN = rf"^(https?://.*|data:[\w.+-]+/[\w.+-]+;base64,{_BASE64})$"
OLLAMA_IMAGE_PATTERN = rf"^(data:[\w.+-]+/[\w.+-]+;base64,)?{_BASE64}$"

# JSON objects taken whole (schemas, arguments) nest at most this deep: the gateway walks
# them (closing objects, reading Gemini's schemas, encoding), and JSON nested hundreds of
# levels deep would exhaust Python's recursion limit there (a 500) instead of being a 400.
MAX_JSON_DEPTH = 64

FunctionName = Annotated[str, Field(pattern=FUNCTION_NAME)]


def bounded_depth(value: Any) -> Any:
    """``value`` unchanged; raises ``ValueError`` when its objects and arrays nest more than
    ``MAX_JSON_DEPTH`` levels (the value itself is level 1). Walks without recursion."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if depth > MAX_JSON_DEPTH:
            raise ValueError(f"nests deeper than {MAX_JSON_DEPTH} levels of objects and arrays")
        children = (
            item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        )
        pending.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return value


JSONObject = Annotated[dict[str, Any], AfterValidator(bounded_depth)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# Tools, both surfaces ------------------------------------------------------------------


class FunctionDefinition(_Strict):
    name: FunctionName
    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION)
    parameters: JSONObject | None = None
    strict: bool | None = None


class ToolDefinition(_Strict):
    type: Literal["function"]
    function: FunctionDefinition

    def to_tool(self) -> Tool:
        f = self.function
        return Tool(f.name, f.description or "", f.parameters or _NO_PARAMETERS, f.strict)


_NO_PARAMETERS: Mapping[str, Any] = {"type": "object", "properties": {}}

Tools = Annotated[list[ToolDefinition], Field(max_length=MAX_TOOLS)]


def to_tools(definitions: list[ToolDefinition] | None) -> tuple[Tool, ...]:
    """The tools, refusing two with one name (400 naming ``tools``)."""
    tools = tuple(definition.to_tool() for definition in definitions or ())
    names = [tool.name for tool in tools]
    if len(set(names)) != len(names):
        raise InvalidRequest("tools: two tools have the same name", param="tools")
    return tools


def check_tool_choice(choice: ToolChoice | None, tools: tuple[Tool, ...]) -> None:
    """``required`` or a named tool needs tools; a named tool must be one of them."""
    if choice in (None, "auto", "none"):
        return
    if not tools:
        raise InvalidRequest(f"tool_choice {choice!r} needs tools", param="tool_choice")
    if choice != "required" and choice not in {tool.name for tool in tools}:
        raise InvalidRequest(
            f"tool_choice names {choice!r}, which is not one of the tools", param="tool_choice"
        )


# OpenAI ----------------------------------------------------------------------------------


class NamedFunction(_Strict):
    name: FunctionName


class NamedToolChoice(_Strict):
    type: Literal["function"]
    function: NamedFunction


OpenAIToolChoice = Literal["auto", "none", "required"] | NamedToolChoice


def openai_tool_choice(choice: OpenAIToolChoice | None) -> ToolChoice | None:
    return choice.function.name if isinstance(choice, NamedToolChoice) else choice


class CalledFunction(_Strict):
    name: FunctionName
    arguments: str


class OpenAIToolCall(_Strict):
    id: str = Field(max_length=MAX_ID)
    type: Literal["function"] = "function"
    function: CalledFunction

    @field_validator("function")
    @classmethod
    def _arguments_are_an_object(cls, function: CalledFunction) -> CalledFunction:
        _json_object(function.arguments)
        return function

    def to_call(self) -> ToolCall:
        return ToolCall(self.id, self.function.name, self.function.arguments)


class ImageURL(_Strict):
    url: str = Field(json_schema_extra={"pattern": IMAGE_URL_PATTERN})
    # OpenAI's resolution hint; no backend behind the gateway takes one.
    detail: Literal["auto"] | None = None

    @field_validator("url")
    @classmethod
    def _data_or_web_url(cls, url: str) -> str:
        if url.startswith("data:"):
            match = _DATA_URL.match(url)
            if match is None:
                raise ValueError("a data URL must be base64: data:<media type>;base64,<data>")
            _check_base64(url[match.end() :])
        elif not url.startswith(("https://", "http://")):
            raise ValueError("an image URL is a data: URL or an http(s) URL")
        return url

    def to_image(self) -> Image:
        match = _DATA_URL.match(self.url)
        if match is None:
            return Image(url=self.url)
        return Image(data=self.url[match.end() :], media_type=match.group("type"))


class ImagePart(_Strict):
    type: Literal["image_url"]
    image_url: ImageURL


class JSONSchemaFormat(_Strict):
    name: FunctionName = "response"
    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION)
    schema_: JSONObject | None = Field(default=None, alias="schema")
    strict: bool | None = None


class TextFormat(_Strict):
    type: Literal["text"]


class JSONObjectFormat(_Strict):
    type: Literal["json_object"]


class JSONSchemaResponseFormat(_Strict):
    type: Literal["json_schema"]
    json_schema: JSONSchemaFormat


OpenAIResponseFormat = Annotated[
    TextFormat | JSONObjectFormat | JSONSchemaResponseFormat, Field(discriminator="type")
]


def openai_response_format(value: OpenAIResponseFormat | None) -> ResponseFormat | None:
    if value is None or isinstance(value, TextFormat):
        return None
    if isinstance(value, JSONObjectFormat):
        return ResponseFormat("json_object")
    spec = value.json_schema
    schema = spec.schema_ if spec.schema_ is not None else {}
    return ResponseFormat("json_schema", schema, spec.name, spec.strict)


def tool_names_by_id(calls: Iterable[ToolCall]) -> dict[str, str]:
    return {call.id: call.name for call in calls}


# Ollama ----------------------------------------------------------------------------------


class OllamaFunctionCall(_Strict):
    name: FunctionName
    arguments: JSONObject = Field(default_factory=dict)
    index: int | None = None


class OllamaToolCall(_Strict):
    function: OllamaFunctionCall
    # Sent back by clients that keep OpenAI-style ids (LangChain's ChatOllama).
    id: str | None = Field(default=None, max_length=MAX_ID)
    type: Literal["function"] | None = None

    def to_call(self) -> ToolCall:
        arguments = json.dumps(self.function.arguments, ensure_ascii=False)
        return ToolCall(self.id or new_call_id(), self.function.name, arguments)


OllamaImages = Annotated[
    list[Annotated[str, Field(json_schema_extra={"pattern": OLLAMA_IMAGE_PATTERN})]],
    Field(max_length=MAX_IMAGES),
]


def ollama_images(images: list[str] | None) -> tuple[Image, ...]:
    """Ollama's base64 images (a data: URL prefix is tolerated, as ChatOllama strips it)."""
    result = []
    for data in images or ():
        match = _DATA_URL.match(data)
        if match is not None:
            result.append(Image(data=data[match.end() :], media_type=match.group("type")))
        else:
            result.append(Image(data=data))
    return tuple(result)


def check_ollama_images(images: list[str] | None) -> list[str] | None:
    for data in images or ():
        match = _DATA_URL.match(data)
        _check_base64(data[match.end() :] if match else data)
    return images


# The depth is checked after the union matched, so a deep schema's error says so (not
# that it is not "json").
OllamaFormat = Annotated[Literal["json", ""] | dict[str, Any], AfterValidator(bounded_depth)]


def ollama_format(value: OllamaFormat | None) -> ResponseFormat | None:
    if value is None or value == "":
        return None
    if value == "json":
        return ResponseFormat("json_object")
    return ResponseFormat("json_schema", value)


# Vertex ----------------------------------------------------------------------------------

# Keys of Gemini's Schema left out: an annotation JSON Schema lacks, and two applied after
# the keys are copied (see gemini_schema).
_GEMINI_ONLY_KEYS = {"example", "propertyOrdering", "nullable"}
# Values, not schemas: copied as they are.
_GEMINI_VALUES = {"enum", "const", "default"}
# Gemini's formats that are not JSON Schema formats (Schema.format: "enum" for strings with
# an enum, sizes for numbers); the type and enum already say all they mean.
_GEMINI_ONLY_FORMATS = {"enum", "int32", "int64", "float", "double"}


def gemini_schema(schema: Any) -> Any:
    """Gemini's ``responseSchema`` (Vertex AI's ``Schema``, a subset of OpenAPI 3.0) as the
    JSON Schema it means: types are upper case there (``"OBJECT"``; ``TYPE_UNSPECIFIED``
    says nothing), ``nullable: true`` adds ``"null"`` to the type, ``propertyOrdering``
    orders ``properties`` (the order the engine writes them in), and Gemini-only formats and
    examples are left out. Lower-case types and JSON Schema keywords pass unchanged, so a
    plain JSON schema comes back as it was. ``responseJsonSchema`` needs none of this."""
    if isinstance(schema, list):
        return [gemini_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("properties", "$defs", "definitions") and isinstance(value, dict):
            value = {name: gemini_schema(sub) for name, sub in value.items()}
        elif key in _GEMINI_ONLY_KEYS or (key == "format" and value in _GEMINI_ONLY_FORMATS):
            continue
        elif key == "type" and isinstance(value, str):
            if value == "TYPE_UNSPECIFIED":
                continue
            value = value.lower()
        elif key not in _GEMINI_VALUES:
            value = gemini_schema(value)
        result[key] = value
    order = schema.get("propertyOrdering")
    if isinstance(order, list) and isinstance(result.get("properties"), dict):
        properties = result["properties"]
        first = {name: properties[name] for name in order if name in properties}
        result["properties"] = {**first, **properties}
    if schema.get("nullable") is True and isinstance(result.get("type"), str):
        result["type"] = [result["type"], "null"]
    return result


# Shared helpers --------------------------------------------------------------------------


def with_tool_names(messages: tuple[ChatMessage, ...]) -> tuple[ChatMessage, ...]:
    """Tool messages carry the name of the call they answer (Ollama's ``tool_name``,
    Gemini's ``functionResponse.name``), found by ``tool_call_id`` in earlier turns."""
    names: dict[str, str] = {}
    result = []
    for message in messages:
        names.update(tool_names_by_id(message.tool_calls))
        if message.role == "tool" and message.name is None and message.tool_call_id in names:
            message = ChatMessage(
                "tool", message.content, tool_call_id=message.tool_call_id,
                name=names[message.tool_call_id],
            )  # fmt: skip
        result.append(message)
    return tuple(result)


def _json_object(text: str) -> JSONObject:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"arguments are not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ValueError("arguments must be a JSON object")
    bounded_depth(value)
    return value


def _check_base64(data: str) -> None:
    try:
        base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the image data is not valid base64") from None
