"""JSON schemas for the embedded engine's grammar: the shape it gets, and whether it compiles.

llama.cpp (as xllamacpp builds it) compiles JSON schemas with llguidance when a request
arrives, and a schema it cannot compile does not fail the request: the answer is generated
without any constraint. So the gateway compiles each schema first with the same library and
refuses the ones that fail with a 400 naming the field, before anything is generated.

Two things a grammar allows that a small model falls into, found with the packaged Gemma
(LangChain's ``with_structured_output`` schemas): whitespace between tokens without end
(``{`` then newlines until the token limit), and keys the schema does not list but does not
forbid. ``engine_schema`` asks llguidance for compact JSON (``x-guidance``:
``whitespace_flexible: false``, its documented option) and closes objects that list their
properties (``liftoff.api.tools.closed``); what it admits still validates against the
schema the client sent.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from liftoff.api.errors import FieldError
from liftoff.api.tools import closed

_CACHED_SCHEMAS = 256


def engine_schema(schema: Mapping[str, Any] | None) -> dict[str, Any]:
    """``schema`` (None: any JSON object) as the embedded engine is given it."""
    shaped: dict[str, Any] = closed(dict(schema)) if schema else {"type": "object"}
    shaped.setdefault("x-guidance", {"whitespace_flexible": False})
    return shaped


def check_schema(schema: Mapping[str, Any], param: str) -> None:
    """Raise ``FieldError`` (400, ``param``) unless llguidance compiles ``schema``."""
    try:
        key = json.dumps(schema, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise FieldError(param, f"is not a JSON schema: {exc}") from None
    if error := _compile_error(key):
        raise FieldError(param, f"is a JSON schema the engine cannot compile: {error}")


@lru_cache(maxsize=_CACHED_SCHEMAS)
def _compile_error(schema: str) -> str:
    from llguidance import LLMatcher

    try:
        grammar = LLMatcher.grammar_from_json_schema(json.loads(schema))
    except (TypeError, ValueError) as exc:
        return str(exc)
    return LLMatcher.validate_grammar(grammar) or ""
