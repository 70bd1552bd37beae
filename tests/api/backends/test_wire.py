"""What backends send: sampling options under each backend's names (the one place they
become request fields), honoured or refused, the one reading of finish reasons, and
conversations arranged so that no template drops their text."""

from __future__ import annotations

import dataclasses

import pytest

from liftoff.api.backends.base import (
    ChatMessage,
    GenerationRequest,
    SamplingOptions,
    keep_alive_seconds,
)
from liftoff.api.backends.wire import (
    LLAMACPP_NAMES,
    OLLAMA_NAMES,
    OPENAI_NAMES,
    finish_reason,
    openai_body,
    sampling_fields,
    template_ready,
)
from liftoff.api.errors import FieldError

EVERY_OPTION = SamplingOptions(
    temperature=0.5, top_p=0.9, top_k=40, min_p=0.05, typical_p=0.7, max_tokens=8,
    stop=("\n", "END"), seed=7, frequency_penalty=0.5, presence_penalty=0.25,
    repeat_penalty=1.1, repeat_last_n=32, logit_bias=((15043, -100.0),), logprobs=2,
)  # fmt: skip


def test_every_option_is_set_in_the_example() -> None:
    # Guards the tests below: a new option must be added here and to every backend's table.
    assert all(getattr(EVERY_OPTION, f.name) for f in dataclasses.fields(SamplingOptions))


def test_llamacpp_takes_every_option_under_llama_cpps_names() -> None:
    assert sampling_fields(EVERY_OPTION, LLAMACPP_NAMES, backend="b") == {
        "temperature": 0.5, "top_p": 0.9, "top_k": 40, "min_p": 0.05, "typical_p": 0.7,
        "max_tokens": 8, "stop": ["\n", "END"], "seed": 7, "frequency_penalty": 0.5,
        "presence_penalty": 0.25, "repeat_penalty": 1.1, "repeat_last_n": 32,
        "logit_bias": {"15043": -100.0}, "logprobs": 2,
    }  # fmt: skip


def test_ollama_takes_its_option_names_and_has_no_logit_bias() -> None:
    with pytest.raises(FieldError) as caught:
        sampling_fields(EVERY_OPTION, OLLAMA_NAMES, backend="ollama")
    assert caught.value.param == "options.logit_bias"
    fields = sampling_fields(
        dataclasses.replace(EVERY_OPTION, logit_bias=()), OLLAMA_NAMES, backend="ollama"
    )
    assert fields["num_predict"] == 8 and "max_tokens" not in fields
    assert fields["repeat_penalty"] == 1.1 and fields["typical_p"] == 0.7


def test_any_openai_compatible_server_gets_openais_fields_only() -> None:
    with pytest.raises(FieldError) as caught:
        sampling_fields(EVERY_OPTION, OPENAI_NAMES, backend="openai")
    assert caught.value.param == "options.typical_p"
    assert caught.value.message == "options.typical_p is not supported by the openai backend"


def test_options_left_unset_are_not_sent() -> None:
    assert sampling_fields(SamplingOptions(), OPENAI_NAMES, backend="b") == {}
    assert sampling_fields(SamplingOptions(seed=0), OPENAI_NAMES, backend="b") == {"seed": 0}


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


def test_log_probabilities_take_each_endpoints_form_with_at_least_one_alternative() -> None:
    chat = GenerationRequest(
        "m", messages=(ChatMessage("user", "hi"),), options=SamplingOptions(logprobs=0)
    )
    body = openai_body(chat, backend="b")
    assert (body["logprobs"], body["top_logprobs"]) == (True, 1)  # llama.cpp: none for 0
    prompt = GenerationRequest("m", prompt="hi", options=SamplingOptions(logprobs=3))
    assert openai_body(prompt, backend="b")["logprobs"] == 3


def test_stop_strings_stay_out_of_the_body_for_a_caller_that_applies_them() -> None:
    request = GenerationRequest("m", prompt="hi", options=SamplingOptions(stop=("x",)))
    assert openai_body(request, backend="b")["stop"] == ["x"]
    assert "stop" not in openai_body(request, backend="b", upstream_stops=False)


@pytest.mark.parametrize(
    ("reason", "expected"),
    [("length", "length"), ("stop", "stop"), ("eos", "stop"), (None, "stop"), ("load", "stop")],
)
def test_finish_reasons(reason: str | None, expected: str) -> None:
    assert finish_reason(reason) == expected


S, U, A = "system", "user", "assistant"


@pytest.mark.parametrize(
    ("messages", "expected"),
    [
        ([(S, "Be brief."), (U, "Hi")], [(S, "Be brief."), (U, "Hi")]),
        ([(S, "Only this")], [(U, "Only this")]),
        ([(S, "One"), (S, "Two"), (U, "Hi")], [(S, "One\n\nTwo"), (U, "Hi")]),
        ([(U, "Hi"), (A, "Hello"), (S, "Be brief.")], [(U, "Hi"), (A, "Hello"), (U, "Be brief.")]),
        ([(U, "Hi"), (S, "Be brief.")], [(U, "Hi\n\nBe brief.")]),
        ([(U, "Hi"), (S, "Be brief."), (U, "Why?")], [(U, "Hi"), (U, "Be brief.\n\nWhy?")]),
        ([(S, "Rules"), (A, "Ready.")], [(U, "Rules"), (A, "Ready.")]),
    ],
    ids=["system-first", "system-only", "two-leading", "system-last", "after-user",
         "between-users", "no-user"],
)  # fmt: skip
def test_template_ready_keeps_every_word_where_a_template_renders_it(
    messages: list[tuple[str, str]], expected: list[tuple[str, str]]
) -> None:
    turns = template_ready([ChatMessage(role, text) for role, text in messages])  # type: ignore[arg-type]
    assert [(turn.role, turn.content) for turn in turns] == expected


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("5m", 300), ("1h30m", 5400), ("-1", -1), (-1, -1), (0, 0), ("0", 0), ("0s", 0),
     ("300", 300), (1.5, 1.5), ("1.5h", 5400), ("250ms", 0.25)],
)  # fmt: skip
def test_keep_alive_reads_as_ollama_reads_it(value: str | float, seconds: float) -> None:
    assert keep_alive_seconds(value) == pytest.approx(seconds)


@pytest.mark.parametrize("value", ["5 minutes", "m", "", "5x", "1h-3m"])
def test_keep_alive_that_is_no_duration_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        keep_alive_seconds(value)
