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

from liftoff.api.backends.base import FinishReason, GenerationRequest, SamplingOptions
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
        body["messages"] = [{"role": m.role, "content": m.content} for m in request.messages]
    else:
        body["prompt"] = request.prompt or ""
    body.update(sampling_fields(request.options, OPENAI_NAMES, backend=backend))
    return body


def finish_reason(reason: str | None) -> FinishReason:
    """A backend's reason for ending (OpenAI's ``finish_reason``, Ollama's ``done_reason``) as
    the gateway's: ``length`` when the token limit cut the answer, else ``stop``."""
    return "length" if reason == "length" else "stop"
