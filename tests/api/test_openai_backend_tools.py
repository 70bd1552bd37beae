"""Tools, structured output and images through the ``openai`` backend to a real
OpenAI-compatible server: llama.cpp's own, started with a Jinja chat template that renders
tools (``tests/api/fixtures/tools_template.jinja``, Hermes-style).

llama.cpp's server renders the tools it is sent but does not force a call, so the two-step
loop runs with ``LIFTOFF_TOOL_CALLS=constrained``: the gateway makes the call through the
server's structured output. Forwarded as they are (``native``), tools reach the server's
template, which the prompt's size shows."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import openai
import pytest

from tests.llama_server import LlamaServer
from tests.servers import ServerProcess

TEMPLATE = Path(__file__).parent / "fixtures" / "tools_template.jinja"
PARAMETERS = {
    "type": "object",
    "properties": {"city": {"type": "string", "maxLength": 40}},
    "required": ["city"],
    "additionalProperties": False,
}
WEATHER = {"type": "function", "function": {"name": "get_weather",
           "description": "The weather in a city", "parameters": PARAMETERS}}  # fmt: skip
QUESTION = [{"role": "user", "content": "What is the weather in Paris?"}]


@pytest.fixture(scope="module")
def llama_server(gguf_path: Path) -> Iterator[LlamaServer]:
    with LlamaServer(str(gguf_path), template_file=str(TEMPLATE)) as server:
        yield server


def _client(llama_server: LlamaServer, gguf_path: Path, tool_calls: str) -> Iterator[openai.OpenAI]:
    env = {"LIFTOFF_BACKEND": "openai", "OPENAI_BASE_URL": llama_server.url,
           "LIFTOFF_MODEL": str(gguf_path), "LIFTOFF_TOOL_CALLS": tool_calls}  # fmt: skip
    with (
        ServerProcess("liftoff.api.main:app", env) as gateway,
        openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="unused", max_retries=0) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def constrained(llama_server: LlamaServer, gguf_path: Path) -> Iterator[openai.OpenAI]:
    yield from _client(llama_server, gguf_path, "constrained")


@pytest.fixture(scope="module")
def native(llama_server: LlamaServer, gguf_path: Path) -> Iterator[openai.OpenAI]:
    yield from _client(llama_server, gguf_path, "native")


def test_a_tool_loop_completes_against_llama_cpps_server(
    constrained: openai.OpenAI, gguf_path: Path
) -> None:
    model = str(gguf_path)
    first = constrained.chat.completions.create(
        model=model, messages=QUESTION, tools=[WEATHER], tool_choice="required",
        max_tokens=60, temperature=0,
    )  # fmt: skip
    assert first.choices[0].finish_reason == "tool_calls"
    (call,) = first.choices[0].message.tool_calls or []
    jsonschema.validate(json.loads(call.function.arguments), PARAMETERS)
    history: list[Any] = [
        *QUESTION,
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "Sunny, 21 degrees."},
    ]
    final = constrained.chat.completions.create(
        model=model, messages=history, tools=[WEATHER], tool_choice="none", max_tokens=10,
        temperature=0,
    )  # fmt: skip
    assert final.choices[0].message.content and not final.choices[0].message.tool_calls


def test_native_tools_reach_the_servers_template(native: openai.OpenAI, gguf_path: Path) -> None:
    request: Any = {"model": str(gguf_path), "messages": QUESTION, "max_tokens": 1}
    without = native.chat.completions.create(**request)
    with_tools = native.chat.completions.create(**request, tools=[WEATHER])
    assert without.usage is not None and with_tools.usage is not None
    # The template renders each tool's JSON into the prompt: dozens of tokens more.
    assert with_tools.usage.prompt_tokens > without.usage.prompt_tokens + 50


def test_structured_output_is_enforced_by_the_server(
    native: openai.OpenAI, gguf_path: Path
) -> None:
    answer = native.chat.completions.create(
        model=str(gguf_path), messages=QUESTION, max_tokens=60, temperature=0,
        response_format={"type": "json_schema",
                         "json_schema": {"name": "where", "schema": PARAMETERS}},
    )  # fmt: skip
    jsonschema.validate(json.loads(answer.choices[0].message.content or ""), PARAMETERS)


def test_images_reach_the_server_as_image_url_parts(native: openai.OpenAI, gguf_path: Path) -> None:
    pixel = base64.b64encode(b"\x89PNG\r\n\x1a\n").decode()
    with pytest.raises(openai.APIStatusError) as refused:
        native.chat.completions.create(
            model=str(gguf_path), max_tokens=1,
            messages=[{"role": "user", "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{pixel}"}}]}],
        )  # fmt: skip
    # llama.cpp's server read the image part and says what it lacks to see it.
    assert "mmproj" in refused.value.message or "image" in refused.value.message
