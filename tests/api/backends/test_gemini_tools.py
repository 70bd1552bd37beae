"""Function calling, structured output and images on the Gemini backend, through the real
google-genai client against the fake Gemini API (``tests/fakes/gemini_server.py``)."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator

import pytest

from liftoff.api.backends.base import (
    ChatMessage,
    Finish,
    GenerationRequest,
    Image,
    ResponseFormat,
    TextDelta,
    Tool,
    ToolCall,
)
from liftoff.api.backends.gemini import GeminiBackend
from tests.fakes.gemini_server import API_KEY, CHAT_MODEL, FakeGemini

WEATHER = Tool(
    "get_weather",
    "The weather in a city",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
PNG = b"\x89PNG\r\n\x1a\n fake pixels"


@pytest.fixture
async def backend(fake_gemini: FakeGemini) -> AsyncIterator[GeminiBackend]:
    backend = GeminiBackend(CHAT_MODEL, api_key=API_KEY, base_url=fake_gemini.url)
    yield backend
    await backend.close()


def chat(*messages: ChatMessage, **fields: object) -> GenerationRequest:
    turns = messages or (ChatMessage("user", "Weather in Paris"),)
    return GenerationRequest(CHAT_MODEL, messages=turns, **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("tool_choice", "config"),
    [
        (None, {"mode": "AUTO"}),
        ("none", {"mode": "NONE"}),
        ("required", {"mode": "ANY"}),
        ("get_weather", {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}),
    ],
)
async def test_tools_become_function_declarations_and_tool_choice_the_mode(
    backend: GeminiBackend, fake_gemini: FakeGemini, tool_choice: str | None,
    config: dict[str, object],
) -> None:  # fmt: skip
    events = [e async for e in backend.generate(chat(tools=(WEATHER,), tool_choice=tool_choice))]
    (sent,) = fake_gemini.bodies("streamGenerateContent")
    (declaration,) = sent["tools"][0]["functionDeclarations"]
    # Proto JSON takes a field by its JSON name or its proto name; google-genai sends this
    # one by the proto name.
    schema = declaration.pop("parametersJsonSchema", None) or declaration.pop(
        "parameters_json_schema"
    )
    assert schema == WEATHER.parameters
    assert declaration == {"name": "get_weather", "description": "The weather in a city"}
    assert sent["toolConfig"] == {"functionCallingConfig": config}
    calls = [e for e in events if isinstance(e, ToolCall)]
    if tool_choice == "none":
        assert not calls and isinstance(events[-1], Finish) and events[-1].reason == "stop"
    else:
        assert [(c.name, json.loads(c.arguments)) for c in calls] == [
            ("get_weather", {"city": "Paris"})
        ]
        assert events[-1] == Finish("tool_calls", events[-1].usage)  # type: ignore[union-attr]


async def test_calls_and_results_become_function_call_and_response_parts(
    backend: GeminiBackend, fake_gemini: FakeGemini
) -> None:
    history = (
        ChatMessage("user", "Weather in Paris"),
        ChatMessage(
            "assistant", "", tool_calls=(ToolCall("c1", "get_weather", '{"city": "Paris"}'),)
        ),
        ChatMessage("tool", "sunny", tool_call_id="c1", name="get_weather"),
    )
    events = [e async for e in backend.generate(chat(*history, tools=(WEATHER,)))]
    (sent,) = fake_gemini.bodies("streamGenerateContent")
    assert sent["contents"][1:] == [
        {"role": "model", "parts": [{"functionCall": {
            "id": "c1", "name": "get_weather", "args": {"city": "Paris"}}}]},
        {"role": "user", "parts": [{"functionResponse": {
            "id": "c1", "name": "get_weather", "response": {"result": "sunny"}}}]},
    ]  # fmt: skip
    # After the result the model answers in words.
    assert any(isinstance(e, TextDelta) for e in events)


async def test_response_format_becomes_the_json_mime_type_and_schema(
    backend: GeminiBackend, fake_gemini: FakeGemini
) -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    events = [e async for e in backend.generate(
        chat(response_format=ResponseFormat("json_schema", schema)))]  # fmt: skip
    config = fake_gemini.bodies("streamGenerateContent")[0]["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseJsonSchema"] == schema
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert json.loads(text) == {"city": "Paris"}


async def test_images_become_inline_data(backend: GeminiBackend, fake_gemini: FakeGemini) -> None:
    data = base64.b64encode(PNG).decode()
    message = ChatMessage("user", "What is this?", images=(Image(data=data),))
    _ = [e async for e in backend.generate(chat(message))]
    (sent,) = fake_gemini.bodies("streamGenerateContent")
    text, image = sent["contents"][0]["parts"]
    assert text == {"text": "What is this?"}
    blob = image["inlineData"]
    assert blob["data"] == data
    assert blob.get("mimeType", blob.get("mime_type")) == "image/png"
