"""The gateway's constrained tool calls (``liftoff.api.tools``): the schema an answer is held
to, what the model is told, and how its answer becomes tool calls."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import jsonschema
import pytest

from liftoff.api.backends.base import (
    ChatMessage,
    Finish,
    GenerationEvent,
    GenerationRequest,
    ResponseFormat,
    TextDelta,
    Tool,
    ToolCall,
    Usage,
)
from liftoff.api.errors import BackendError, InvalidRequest
from liftoff.api.tools import answer_schema, constrained, read_answer

WEATHER = Tool(
    "get_weather",
    "The weather in a city",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
TIME = Tool(
    "get_time", "The time in a zone", {"type": "object", "properties": {"zone": {"type": "string"}}}
)
USAGE = Usage(10, 5)


def chat(**fields: object) -> GenerationRequest:
    messages = (ChatMessage("user", "Weather in Paris?"),)
    return GenerationRequest(model="m", messages=messages, **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("answer", "valid"),
    [
        ({"name": "get_weather", "arguments": {"city": "Paris"}}, True),
        ({"name": "get_time", "arguments": {}}, True),
        ({"content": "It is sunny."}, True),
        ({"name": "get_weather", "arguments": {}}, False),  # a required argument is missing
        ({"name": "launch", "arguments": {}}, False),  # not one of the tools
        ([{"name": "get_time", "arguments": {}}], False),  # parallel calls not allowed
    ],
)
def test_auto_answers_are_one_call_of_an_offered_tool_or_content(
    answer: object, valid: bool
) -> None:
    schema = answer_schema((WEATHER, TIME), parallel=False, optional=True)
    assert jsonschema.Draft202012Validator(schema).is_valid(answer) is valid


def test_required_allows_no_content_and_parallel_allows_arrays() -> None:
    required = answer_schema((WEATHER,), parallel=False, optional=False)
    assert not jsonschema.Draft202012Validator(required).is_valid({"content": "hi"})
    parallel = answer_schema((WEATHER, TIME), parallel=True, optional=False)
    calls = [{"name": "get_time", "arguments": {}}, {"name": "get_weather",
             "arguments": {"city": "Oslo"}}]  # fmt: skip
    assert jsonschema.Draft202012Validator(parallel).is_valid(calls)
    assert not jsonschema.Draft202012Validator(parallel).is_valid([])


def test_a_named_tool_choice_allows_only_that_tool() -> None:
    plain, reader = constrained(chat(tools=(WEATHER, TIME), tool_choice="get_time"))
    assert reader is not None and plain.response_format is not None
    schema = plain.response_format.schema
    assert jsonschema.Draft202012Validator(schema).is_valid({"name": "get_time", "arguments": {}})
    assert not jsonschema.Draft202012Validator(schema).is_valid(
        {"name": "get_weather", "arguments": {"city": "Rome"}}
    )


def test_the_model_is_told_the_tools_and_history_becomes_plain_turns() -> None:
    messages = (
        ChatMessage("user", "Weather in Paris?"),
        ChatMessage(
            "assistant", "", tool_calls=(ToolCall("c1", "get_weather", '{"city": "Paris"}'),)
        ),
        ChatMessage("tool", "sunny, 21 C", tool_call_id="c1", name="get_weather"),
    )
    request = GenerationRequest(model="m", messages=messages, tools=(WEATHER,))
    plain, _ = constrained(request)
    assert plain.tools == () and plain.tool_choice is None
    assert plain.messages is not None
    system, *turns = plain.messages
    assert system.role == "system" and '"name": "get_weather"' in system.content
    assert '{"content": <your answer>}' in system.content  # auto: the model may answer
    assert turns[1] == ChatMessage(
        "assistant", '{"name": "get_weather", "arguments": {"city": "Paris"}}'
    )
    assert turns[2] == ChatMessage("user", "Result of get_weather: sunny, 21 C")


def test_tool_choice_none_sends_no_tools_and_no_schema() -> None:
    plain, reader = constrained(chat(tools=(WEATHER,), tool_choice="none"))
    assert reader is None and plain.tools == () and plain.response_format is None
    assert plain.messages == chat().messages


def test_tools_with_a_response_format_are_refused_naming_response_format() -> None:
    with pytest.raises(InvalidRequest) as refused:
        constrained(chat(tools=(WEATHER,), response_format=ResponseFormat("json_object")))
    assert refused.value.param == "response_format"


def test_calls_come_back_with_ids_and_finish_reason_tool_calls() -> None:
    text = json.dumps([{"name": "get_weather", "arguments": {"city": "Oslo"}},
                       {"name": "get_time", "arguments": {}}])  # fmt: skip
    events = read_answer(text, Finish("stop", USAGE), {"get_weather", "get_time"})
    calls = [e for e in events if isinstance(e, ToolCall)]
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [
        ("get_weather", {"city": "Oslo"}),
        ("get_time", {}),
    ]
    assert all(c.id.startswith("call_") for c in calls) and calls[0].id != calls[1].id
    assert events[-1] == Finish("tool_calls", USAGE)


def test_content_comes_back_as_text_and_a_cut_answer_as_what_was_said() -> None:
    assert read_answer('{"content": "Sunny."}', Finish("stop", USAGE), {"f"}) == [
        TextDelta("Sunny."),
        Finish("stop", USAGE),
    ]
    assert read_answer('{"name": "f", "argu', Finish("length", USAGE), {"f"}) == [
        TextDelta('{"name": "f", "argu'),
        Finish("length", USAGE),
    ]


def test_an_answer_that_ignored_its_schema_is_a_backend_error() -> None:
    with pytest.raises(BackendError):
        read_answer("Sure! Calling it now.", Finish("stop", USAGE), {"f"})
    with pytest.raises(BackendError):
        read_answer('{"name": "rm_rf", "arguments": {}}', Finish("stop", USAGE), {"f"})


async def test_the_reader_turns_a_streamed_answer_into_calls() -> None:
    _, reader = constrained(chat(tools=(WEATHER,), tool_choice="required"))
    assert reader is not None

    async def answer() -> AsyncIterator[GenerationEvent]:
        for piece in ['{"name": "get_w', 'eather", "arguments": {"city"', ': "Oslo"}}']:
            yield TextDelta(piece)
        yield Finish("stop", USAGE)

    events = [event async for event in reader(answer())]
    assert [type(e) for e in events] == [ToolCall, Finish]
    assert events[0].arguments == '{"city": "Oslo"}'  # type: ignore[union-attr]


def test_tool_arguments_get_no_keys_their_schema_does_not_list() -> None:
    loose = Tool("f", "", {"type": "object", "properties": {"a": {"type": "object",
                 "properties": {"b": {"type": "string"}}}}})  # fmt: skip
    schema = answer_schema((loose,), parallel=False, optional=False)
    validator = jsonschema.Draft202012Validator(schema)
    assert validator.is_valid({"name": "f", "arguments": {"a": {"b": "x"}}})
    assert not validator.is_valid({"name": "f", "arguments": {"a": {}, "type": "object"}})
    assert not validator.is_valid({"name": "f", "arguments": {"a": {"b": "x", "c": 1}}})
