"""Gemini's ``responseSchema`` (Vertex AI's OpenAPI subset) read as the JSON Schema it means."""

from __future__ import annotations

from typing import Any

import jsonschema

from liftoff.api.backends.grammar import check_schema
from liftoff.api.protocols.tool_fields import gemini_schema

GEMINI: dict[str, Any] = {
    "type": "OBJECT",
    "description": "a city",
    "properties": {
        "name": {"type": "STRING", "example": "Paris"},
        "kind": {"type": "STRING", "format": "enum", "enum": ["city", "TOWN"]},
        "founded": {"type": "STRING", "format": "date", "nullable": True},
        "districts": {
            "type": "ARRAY",
            "items": {
                "type": "OBJECT",
                "properties": {"n": {"type": "INTEGER", "format": "int32"}},
            },
            "maxItems": 3,
        },
        "nullable": {
            "type": "TYPE_UNSPECIFIED",
            "anyOf": [{"type": "NUMBER"}, {"type": "BOOLEAN"}],
        },
    },
    "required": ["name", "kind"],
    "propertyOrdering": ["kind", "name"],
}


def test_geminis_schema_becomes_the_json_schema_it_means() -> None:
    assert gemini_schema(GEMINI) == {
        "type": "object",
        "description": "a city",
        "properties": {
            "kind": {"type": "string", "enum": ["city", "TOWN"]},
            "name": {"type": "string"},
            "founded": {"type": ["string", "null"], "format": "date"},
            "districts": {
                "type": "array",
                "items": {"type": "object", "properties": {"n": {"type": "integer"}}},
                "maxItems": 3,
            },
            "nullable": {"anyOf": [{"type": "number"}, {"type": "boolean"}]},
        },
        "required": ["name", "kind"],
    }


def test_what_it_means_compiles_and_validates_what_gemini_would_answer() -> None:
    schema = gemini_schema(GEMINI)
    check_schema(schema, "parameters.response_schema")
    answer = {"kind": "TOWN", "name": "Ely", "founded": None, "districts": [{"n": 1}],
              "nullable": True}  # fmt: skip
    jsonschema.validate(answer, schema)


def test_a_json_schema_passes_unchanged() -> None:
    schema = {
        "type": "object",
        "properties": {"example": {"type": ["string", "null"], "default": "OBJECT"}},
        "required": ["example"],
        "$defs": {"x": {"const": {"type": "OBJECT"}}},
    }
    assert gemini_schema(schema) == schema
