"""What backends send: sampling options under each backend's names (the one place they
become request fields), honoured or refused, and the one reading of finish reasons."""

from __future__ import annotations

import dataclasses

import pytest

from liftoff.api.backends.base import ChatMessage, GenerationRequest, SamplingOptions
from liftoff.api.backends.wire import (
    OLLAMA_NAMES,
    OPENAI_NAMES,
    finish_reason,
    openai_body,
    sampling_fields,
)
from liftoff.api.errors import FieldError

EVERY_OPTION = SamplingOptions(
    temperature=0.5, top_p=0.9, top_k=40, max_tokens=8, stop=("\n", "END"), seed=7
)


def test_every_option_is_set_in_the_example() -> None:
    # Guards the tests below: a new option must be added here and to every backend's table.
    assert all(getattr(EVERY_OPTION, f.name) for f in dataclasses.fields(SamplingOptions))


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (OPENAI_NAMES, {"temperature": 0.5, "top_p": 0.9, "top_k": 40, "max_tokens": 8,
                        "stop": ["\n", "END"], "seed": 7}),
        (OLLAMA_NAMES, {"temperature": 0.5, "top_p": 0.9, "top_k": 40, "num_predict": 8,
                        "stop": ["\n", "END"], "seed": 7}),
    ],
)  # fmt: skip
def test_every_option_reaches_every_backend_under_its_name(
    names: dict[str, str], expected: dict[str, object]
) -> None:
    assert sampling_fields(EVERY_OPTION, names, backend="b") == expected


def test_options_left_unset_are_not_sent() -> None:
    assert sampling_fields(SamplingOptions(), OPENAI_NAMES, backend="b") == {}
    assert sampling_fields(SamplingOptions(seed=0), OPENAI_NAMES, backend="b") == {"seed": 0}


def test_an_option_the_backend_cannot_honour_is_refused_naming_it() -> None:
    without_seed = {name: wire for name, wire in OPENAI_NAMES.items() if name != "seed"}
    assert sampling_fields(SamplingOptions(top_k=3), without_seed, backend="b") == {"top_k": 3}
    with pytest.raises(FieldError) as caught:
        sampling_fields(SamplingOptions(seed=1), without_seed, backend="tiny")
    assert caught.value.param == "options.seed"
    assert caught.value.message == "options.seed is not supported by the tiny backend"


def test_openai_body_of_a_chat_and_of_a_prompt() -> None:
    chat = GenerationRequest(
        "m", messages=(ChatMessage("user", "hi"),), options=SamplingOptions(max_tokens=3)
    )
    assert openai_body(chat, backend="b") == {
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 3,
    }
    prompt = openai_body(GenerationRequest("m", prompt="Once"), backend="b")
    assert prompt["prompt"] == "Once" and "messages" not in prompt


@pytest.mark.parametrize(
    ("reason", "expected"),
    [("length", "length"), ("stop", "stop"), ("eos", "stop"), (None, "stop"), ("load", "stop")],
)
def test_finish_reasons(reason: str | None, expected: str) -> None:
    assert finish_reason(reason) == expected
