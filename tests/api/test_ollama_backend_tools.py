"""Tools, structured output and images through the gateway to Ollama (the fake, built from
Ollama's docs/api.md): each forwarded in Ollama's own shape, its tool calls brought back in
each surface's shape, and forced calls made through ``format`` (Ollama has no
``tool_choice``)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import ollama
import openai
import pytest

from tests.fakes.ollama_server import DEFAULT_MODEL, FakeModel, FakeOllama
from tests.servers import ServerProcess

VISION_MODEL = "llava:7b"
PIXEL = base64.b64encode(b"\x89PNG\r\n\x1a\n fake pixels").decode()
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                       "required": ["city"]},
    },
}  # fmt: skip
QUESTION = [{"role": "user", "content": "Weather in Paris"}]


@pytest.fixture
def gateway(fake_ollama: FakeOllama) -> Iterator[ServerProcess]:
    fake_ollama.add_model(FakeModel(VISION_MODEL, capabilities=("completion", "vision")))
    env = {"LIFTOFF_BACKEND": "ollama", "OLLAMA_HOST": fake_ollama.url}
    with ServerProcess("liftoff.api.main:app", env) as server:
        yield server


@pytest.fixture
def client(gateway: ServerProcess) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="unused", max_retries=0) as client:
        yield client


@pytest.mark.parametrize("stream", [False, True])
def test_ollama_clients_get_ollamas_tool_calls(
    gateway: ServerProcess, fake_ollama: FakeOllama, stream: bool
) -> None:
    with ollama.Client(host=gateway.url) as client:
        answer = client.chat(model=DEFAULT_MODEL, messages=QUESTION, tools=[WEATHER],
                             stream=stream)  # fmt: skip
        chunks = list(answer) if stream else [answer]
    calls = [call for chunk in chunks for call in chunk.message.tool_calls or []]
    assert [(c.function.name, dict(c.function.arguments)) for c in calls] == [
        ("get_weather", {"city": "Paris"})
    ]
    assert chunks[-1].done_reason == "stop"
    (sent,) = fake_ollama.bodies("/api/chat")
    assert sent["tools"] == [WEATHER]


@pytest.mark.parametrize("stream", [False, True])
def test_openai_clients_get_ollamas_calls_in_openais_shape(
    client: openai.OpenAI, stream: bool
) -> None:
    request: Any = {"model": DEFAULT_MODEL, "messages": QUESTION, "tools": [WEATHER]}
    if stream:
        chunks = list(client.chat.completions.create(**request, stream=True))
        deltas = [d for c in chunks if c.choices for d in c.choices[0].delta.tool_calls or []]
        name = deltas[0].function.name  # type: ignore[union-attr]
        arguments = "".join(d.function.arguments or "" for d in deltas if d.function)
        reason = chunks[-1].choices[0].finish_reason
    else:
        choice = client.chat.completions.create(**request).choices[0]
        (call,) = choice.message.tool_calls or []
        name, arguments, reason = call.function.name, call.function.arguments, choice.finish_reason
    assert (name, json.loads(arguments), reason) == ("get_weather", {"city": "Paris"}, "tool_calls")


def test_a_tool_loop_sends_calls_and_results_in_ollamas_shape(
    client: openai.OpenAI, fake_ollama: FakeOllama
) -> None:
    first = client.chat.completions.create(model=DEFAULT_MODEL, messages=QUESTION, tools=[WEATHER])
    (call,) = first.choices[0].message.tool_calls or []
    final = client.chat.completions.create(
        model=DEFAULT_MODEL, tools=[WEATHER],
        messages=[*QUESTION, first.choices[0].message.model_dump(exclude_none=True),  # type: ignore[list-item]
                  {"role": "tool", "tool_call_id": call.id, "content": "sunny and warm"}],
    )  # fmt: skip
    assert final.choices[0].message.content == "warm and sunny warm and sunny"
    assert fake_ollama.bodies("/api/chat")[-1]["messages"][1:] == [
        {"role": "assistant", "content": "",
         "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
        {"role": "tool", "content": "sunny and warm", "tool_name": "get_weather"},
    ]  # fmt: skip


def test_a_forced_call_goes_through_format(client: openai.OpenAI, fake_ollama: FakeOllama) -> None:
    answer = client.chat.completions.create(
        model=DEFAULT_MODEL, messages=QUESTION, tools=[WEATHER], tool_choice="required"
    )
    (call,) = answer.choices[0].message.tool_calls or []
    assert call.function.name == "get_weather"
    (sent,) = fake_ollama.bodies("/api/chat")
    assert "tools" not in sent
    assert sent["messages"][0]["role"] == "system"
    assert sent["format"]["properties"]["name"] == {"const": "get_weather"}


def test_structured_output_reaches_ollama_as_format(
    gateway: ServerProcess, client: openai.OpenAI, fake_ollama: FakeOllama
) -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    client.chat.completions.create(
        model=DEFAULT_MODEL, messages=QUESTION, response_format={"type": "json_object"}
    )
    answer = client.chat.completions.create(
        model=DEFAULT_MODEL, messages=QUESTION,
        response_format={"type": "json_schema", "json_schema": {"name": "c", "schema": schema}},
    )  # fmt: skip
    with ollama.Client(host=gateway.url) as ollama_client:
        ollama_client.generate(model=DEFAULT_MODEL, prompt="Paris", format=schema)
    assert json.loads(answer.choices[0].message.content or "") == {"city": "Paris"}
    formats = [body["format"] for body in fake_ollama.bodies("/api/chat")]
    assert formats == ["json", schema, schema]  # generate without raw is a one-turn chat


def test_images_reach_ollama_as_base64(
    gateway: ServerProcess, client: openai.OpenAI, fake_ollama: FakeOllama
) -> None:
    client.chat.completions.create(
        model=VISION_MODEL,
        messages=[{"role": "user", "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}}]}],
    )  # fmt: skip
    with ollama.Client(host=gateway.url) as ollama_client:
        ollama_client.chat(
            model=VISION_MODEL,
            messages=[{"role": "user", "content": "What is this?", "images": [PIXEL]}],
        )
        ollama_client.generate(model=VISION_MODEL, prompt="What is this?", images=[PIXEL])
    for body in fake_ollama.bodies("/api/chat"):
        assert body["messages"] == [{"role": "user", "content": "What is this?", "images": [PIXEL]}]


def test_ollamas_refusals_and_web_image_urls_are_400s(
    gateway: ServerProcess, client: openai.OpenAI
) -> None:
    with pytest.raises(openai.BadRequestError) as no_vision:
        client.chat.completions.create(
            model=DEFAULT_MODEL,
            messages=[{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}}]}],
        )  # fmt: skip
    assert "does not support images" in no_vision.value.message
    web_image = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
    web = httpx.post(
        f"{gateway.url}/v1/chat/completions",
        json={"model": VISION_MODEL, "messages": [{"role": "user", "content": [web_image]}]},
    )
    assert web.status_code == 400
    assert web.json()["error"]["param"] == "messages.0.content"
