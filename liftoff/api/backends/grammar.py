"""Whether the embedded engine can compile a JSON schema into its grammar.

llama.cpp (as xllamacpp builds it) compiles JSON schemas with llguidance when a request
arrives, and a schema it cannot compile does not fail the request: the answer is generated
without any constraint. So the gateway compiles each schema first with the same library and
refuses the ones that fail with a 400 naming the field, before anything is generated.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from liftoff.api.errors import FieldError

_CACHED_SCHEMAS = 256


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
