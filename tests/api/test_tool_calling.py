"""Tool calling with real clients against the gateway serving the real embedded model: the
``openai`` SDK, ``ollama`` and LangChain's ChatOpenAI and ChatOllama, unchanged.

The packaged Gemma is a base model; its calls are right because the gateway constrains its
answer to the tool-call JSON (``liftoff.api.tools``), not because it was trained for them.
"""

from __future__ import annotations

import gc
import json
import warnings
from collections.abc import Iterator
from typing import Any

import jsonschema
import ollama
import openai
import pytest
from langchain_core.tools import tool
from langchain_ollama import ChatOllama
from langchain_openai import ChatOpenAI

from tests.servers import ServerProcess

WEATHER_PARAMETERS = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "maxLength": 40},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
    },
    "required": ["city", "unit"],
    "additionalProperties": False,
}
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city",
        "parameters": WEATHER_PARAMETERS,
    },
}
QUESTION = [{"role": "user", "content": "What is the weather in Paris?"}]


@pytest.fixture
def client(gateway: ServerProcess) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="unused", max_retries=0) as client:
        yield client


@pytest.fixture
def _collect_langchain_connections() -> Iterator[None]:
    yield
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


@pytest.mark.parametrize(
    "tool_choice", ["required", {"type": "function", "function": {"name": "get_weather"}}]
)
def test_openai_sdk_gets_a_call_whose_arguments_validate_against_the_schema(
    client: openai.OpenAI, model_id: str, tool_choice: Any
) -> None:
    response = client.chat.completions.create(
        model=model_id, messages=QUESTION, tools=[WEATHER], tool_choice=tool_choice,
        max_tokens=80, temperature=0,
    )  # fmt: skip
    choice = response.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    (call,) = choice.message.tool_calls or []
    assert call.type == "function" and call.id.startswith("call_")
    assert call.function.name == "get_weather"
    jsonschema.validate(json.loads(call.function.arguments), WEATHER_PARAMETERS)


def test_streamed_tool_calls_arrive_as_openai_deltas(client: openai.OpenAI, model_id: str) -> None:
    chunks = list(
        client.chat.completions.create(
            model=model_id,
            messages=QUESTION,
            tools=[WEATHER],
            tool_choice="required",
            max_tokens=80,
            temperature=0,
            stream=True,
        )
    )
    deltas = [d for c in chunks if c.choices for d in c.choices[0].delta.tool_calls or []]
    first, *rest = deltas
    assert first.index == 0 and first.id and first.type == "function"
    assert first.function is not None and first.function.name == "get_weather"
    arguments = "".join(d.function.arguments or "" for d in deltas if d.function)
    assert all(d.index == 0 and d.id is None for d in rest)
    jsonschema.validate(json.loads(arguments), WEATHER_PARAMETERS)
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_a_tool_call_then_its_result_then_a_final_answer(
    client: openai.OpenAI, model_id: str
) -> None:
    first = client.chat.completions.create(
        model=model_id, messages=QUESTION, tools=[WEATHER], tool_choice="required",
        max_tokens=80, temperature=0,
    )  # fmt: skip
    (call,) = first.choices[0].message.tool_calls or []
    history: list[Any] = [
        *QUESTION,
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "Sunny, 21 degrees."},
    ]
    final = client.chat.completions.create(
        model=model_id, messages=history, tools=[WEATHER], tool_choice="none",
        max_tokens=12, temperature=0,
    )  # fmt: skip
    assert final.choices[0].finish_reason in ("stop", "length")
    assert final.choices[0].message.content
    assert not final.choices[0].message.tool_calls
    # The call and its result reached the model: the prompt holds them.
    assert final.usage is not None and first.usage is not None
    assert final.usage.prompt_tokens > first.usage.prompt_tokens - 100


def test_tool_choice_auto_lets_the_base_model_decide(client: openai.OpenAI, model_id: str) -> None:
    response = client.chat.completions.create(
        model=model_id, messages=QUESTION, tools=[WEATHER], max_tokens=80, temperature=0
    )
    choice = response.choices[0]
    # Either a call that validates, or an answer in words: never anything else.
    if choice.finish_reason == "tool_calls":
        (call,) = choice.message.tool_calls or []
        jsonschema.validate(json.loads(call.function.arguments), WEATHER_PARAMETERS)
    else:
        assert choice.message.content and not choice.message.tool_calls


@tool
def get_weather(city: str, unit: str) -> str:
    """The current weather in a city; unit is celsius or fahrenheit."""
    return f"Sunny in {city}"


@pytest.mark.usefixtures("_collect_langchain_connections")
def test_langchain_chat_openai_bind_tools_returns_tool_calls(
    gateway: ServerProcess, model_id: str
) -> None:
    llm = ChatOpenAI(
        base_url=f"{gateway.url}/v1", api_key="unused", model=model_id,  # type: ignore[arg-type]
        temperature=0, max_completion_tokens=80, max_retries=0,
    )  # fmt: skip
    answer = llm.bind_tools([get_weather], tool_choice="get_weather").invoke(
        "What is the weather in Paris?"
    )
    (call,) = answer.tool_calls  # type: ignore[attr-defined]
    assert call["name"] == "get_weather" and set(call["args"]) == {"city", "unit"}


@pytest.mark.usefixtures("_collect_langchain_connections")
def test_langchain_chat_ollama_bind_tools_returns_tool_calls(
    gateway: ServerProcess, model_id: str
) -> None:
    # Ollama's API has no tool_choice: the model decides (auto), and here it calls.
    llm = ChatOllama(base_url=gateway.url, model=model_id, temperature=0, num_predict=80)
    answer = llm.bind_tools([get_weather]).invoke("What is the weather in Paris?")
    (call,) = answer.tool_calls  # type: ignore[attr-defined]
    assert call["name"] == "get_weather" and set(call["args"]) == {"city", "unit"}


@pytest.mark.parametrize("stream", [False, True])
def test_ollama_client_gets_message_tool_calls(
    gateway: ServerProcess, model_id: str, stream: bool
) -> None:
    with ollama.Client(host=gateway.url) as client:
        request: Any = {"model": model_id, "messages": QUESTION, "tools": [WEATHER],
                        "options": {"temperature": 0, "num_predict": 80}}  # fmt: skip
        if stream:
            chunks = list(client.chat(**request, stream=True))
            calls = [c for chunk in chunks for c in chunk.message.tool_calls or []]
            final = chunks[-1]
        else:
            final = client.chat(**request)
            calls = list(final.message.tool_calls or [])
    (call,) = calls
    assert call.function.name == "get_weather"
    jsonschema.validate(dict(call.function.arguments), WEATHER_PARAMETERS)
    assert final.done and final.done_reason == "stop"


def test_a_tool_schema_the_engine_cannot_compile_is_a_400_naming_it(
    client: openai.OpenAI, model_id: str
) -> None:
    broken = {"type": "function", "function": {"name": "f", "parameters": {"type": "strange"}}}
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model=model_id, messages=QUESTION, tools=[broken])
    assert refused.value.body["param"] == "tools.0.function.parameters"  # type: ignore[index]
    assert "cannot compile" in refused.value.body["message"]  # type: ignore[index]


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"tool_choice": "required"}, "tool_choice"),  # without tools
        ({"tools": [WEATHER], "tool_choice": {"type": "function", "function": {"name": "nope"}}},
         "tool_choice"),
        ({"tools": [WEATHER, WEATHER]}, "tools"),
        ({"tools": [WEATHER], "response_format": {"type": "json_object"}}, "response_format"),
    ],
)  # fmt: skip
def test_inconsistent_tool_requests_are_400s_naming_the_field(
    client: openai.OpenAI, model_id: str, fields: dict[str, Any], param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model=model_id, messages=QUESTION, **fields)
    assert refused.value.body["param"] == param  # type: ignore[index]
