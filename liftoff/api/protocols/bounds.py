"""How much one request may ask for, list by list, on every surface; and the model name as
the OpenAPI document states it.

A request body is already bounded in bytes (``LIFTOFF_MAX_BODY_BYTES``), but bytes are not
work: 100,000 empty chat messages fit in 3.3 MB and held a generation slot for five minutes
while the chat template rendered them. Every list a surface takes is therefore counted, and
a request over a count is a 400 naming the field before anything else happens:

    messages (each surface, and Vertex instances' messages)   MAX_MESSAGES
    content parts of one OpenAI message                        MAX_CONTENT_PARTS
    stop strings (OpenAI ``stop``, Ollama ``options.stop``,
    Vertex ``stop_sequences``), and each one's length         MAX_STOP, MAX_STOP_CHARS
    embedding inputs (OpenAI and Ollama)                       MAX_EMBEDDING_INPUTS (OpenAI's)
    Vertex instances                                           MAX_INSTANCES
    OpenAI ``metadata`` pairs, key and value lengths           OpenAI's 16, 64, 512
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, WithJsonSchema

from liftoff.api.generation import (
    MAX_MODEL_NAME,
    MAX_STOP_CHARS,
    MAX_STOP_STRINGS,
    MODEL_NAME_PATTERN,
)

MAX_MESSAGES = 1024
MAX_CONTENT_PARTS = 256
MAX_STOP = MAX_STOP_STRINGS
MAX_EMBEDDING_INPUTS = 2048
MAX_INSTANCES = 64
MAX_METADATA = 16

# The core checks model names itself (``check_model_name``: a 400 that says so); the
# document states the same rule so clients and fuzzers know it.
ModelName = Annotated[
    str,
    Field(min_length=1, json_schema_extra={"maxLength": MAX_MODEL_NAME,
                                           "pattern": MODEL_NAME_PATTERN}),
]  # fmt: skip
# A field clients may send, that no model here supports: accepted as null, any other value
# refused by the route with a 400 naming it; the document says null.
Unsupported = Annotated[
    int | None, WithJsonSchema({"type": "null", "description": "not supported: omit it"})
]
# The core checks stop strings itself (``check_stop_strings``: a 400 naming the string at
# fault), so the document states its rule and leaves the refusal to it.
StopString = Annotated[str, Field(json_schema_extra={"minLength": 1, "maxLength": MAX_STOP_CHARS})]
# A 64-bit seed, as Ollama's Options.Seed and llama.cpp's take it. A JSON number above 2**53
# is a double to most readers, so the document states the doubles just inside +-2**63 (a
# fuzzer's integer just under the exact bound would otherwise round up past it).
Seed = Annotated[
    int,
    Field(
        ge=-(2**63),
        lt=2**63,
        json_schema_extra={"minimum": -(2**63) + 1024, "maximum": 2**63 - 1024},
    ),
]
StopList = Annotated[list[StopString], Field(json_schema_extra={"maxItems": MAX_STOP})]
Metadata = Annotated[
    dict[Annotated[str, Field(max_length=64)], Annotated[str, Field(max_length=512)]],
    Field(max_length=MAX_METADATA),
]


# Limits the settings decide, written into the OpenAPI document by field name so that what
# it allows is what the gateway accepts (``LIFTOFF_MAX_TOKENS_LIMIT``,
# ``LIFTOFF_MAX_PROMPT_CHARS``: each text is checked alone, the sum of a request's too).
TOKEN_LIMIT_FIELDS = frozenset({"max_tokens", "max_completion_tokens", "max_output_tokens",
                                "num_predict"})  # fmt: skip
TEXT_FIELDS = frozenset({"prompt", "content", "input", "system", "text"})
_NOT_REQUESTS = frozenset({"ValidationError", "HTTPValidationError"})


def document_limits(
    document: dict[str, Any], *, max_tokens: int, max_chars: int, max_choices: int
) -> None:
    """Add the configured limits to the request schemas of an OpenAPI ``document``
    (``max_choices``: OpenAI's ``n``, ``LIFTOFF_MAX_CHOICES``)."""
    for name, schema in document.get("components", {}).get("schemas", {}).items():
        if name in _NOT_REQUESTS:
            continue
        for field, property_schema in schema.get("properties", {}).items():
            if field == "n" and property_schema.get("type") == "integer":
                property_schema["maximum"] = min(property_schema.get("maximum", max_choices),
                                                 max_choices)  # fmt: skip
            elif field in TOKEN_LIMIT_FIELDS:
                for member in _members(property_schema):
                    if member.get("type") == "integer":
                        member["maximum"] = max_tokens
            elif field in TEXT_FIELDS:
                for member in _members(property_schema):
                    _limit_strings(member, max_chars)


def _members(schema: dict[str, Any]) -> list[dict[str, Any]]:
    members: list[dict[str, Any]] = schema.get("anyOf", [schema])
    return members


def _limit_strings(schema: dict[str, Any], max_chars: int) -> None:
    if schema.get("type") == "string":
        schema["maxLength"] = max_chars
    elif schema.get("type") == "array" and isinstance(schema.get("items"), dict):
        _limit_strings(schema["items"], max_chars)
