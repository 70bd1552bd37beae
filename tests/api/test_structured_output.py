"""Structured output from the real embedded model through every surface: OpenAI's
``response_format``, Ollama's ``format``, Vertex's ``responseSchema``, and LangChain's
``with_structured_output``. llama.cpp holds the answer to the schema with a grammar, so even
the small base model answers JSON that validates."""

from __future__ import annotations

import gc
import json
import warnings
from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema
import ollama
import openai
import pytest
from langchain_ollama import ChatOllama
from langchain_openai import ChatOpenAI
from pydantic import BaseModel, Field

from tests.servers import ServerProcess

CITY_SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 30},
        "country": {"type": "string", "maxLength": 30},
        "is_capital": {"type": "boolean"},
    },
    "required": ["name", "country", "is_capital"],
    "additionalProperties": False,
}
QUESTION = [{"role": "user", "content": "Describe Paris as JSON."}]
UNCOMPILABLE = {"type": "object", "properties": {"a": {"$ref": "#/definitions/missing"}}}


class City(BaseModel):
    name: str = Field(max_length=30)
    country: str = Field(max_length=30)
    is_capital: bool


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


@pytest.mark.parametrize("stream", [False, True])
def test_openai_json_schema_answers_validate(
    client: openai.OpenAI, model_id: str, stream: bool
) -> None:
    response_format: Any = {
        "type": "json_schema",
        "json_schema": {"name": "city", "schema": CITY_SCHEMA, "strict": True},
    }
    request: Any = {"model": model_id, "messages": QUESTION, "max_tokens": 100,
                    "temperature": 0, "response_format": response_format}  # fmt: skip
    if stream:
        chunks = list(client.chat.completions.create(**request, stream=True))
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        reason = chunks[-1].choices[0].finish_reason
    else:
        choice = client.chat.completions.create(**request).choices[0]
        text, reason = choice.message.content or "", choice.finish_reason
    assert reason == "stop"
    jsonschema.validate(json.loads(text), CITY_SCHEMA)


def test_openai_json_object_is_json(client: openai.OpenAI, model_id: str) -> None:
    choice = client.chat.completions.create(
        model=model_id, messages=QUESTION, max_tokens=60, temperature=0,
        response_format={"type": "json_object"},
    ).choices[0]  # fmt: skip
    text = choice.message.content or ""
    assert text.lstrip().startswith("{")
    if choice.finish_reason == "stop":  # a cut answer is a JSON prefix, said by "length"
        assert isinstance(json.loads(text), dict)


@pytest.mark.usefixtures("_collect_langchain_connections")
def test_langchain_chat_openai_with_structured_output_returns_a_validated_object(
    gateway: ServerProcess, model_id: str
) -> None:
    llm = ChatOpenAI(
        base_url=f"{gateway.url}/v1", api_key="unused", model=model_id,  # type: ignore[arg-type]
        temperature=0, max_completion_tokens=100, max_retries=0,
    )  # fmt: skip
    city = llm.with_structured_output(City).invoke("Describe Paris.")
    assert isinstance(city, City)


@pytest.mark.usefixtures("_collect_langchain_connections")
def test_langchain_chat_ollama_with_structured_output_returns_a_validated_object(
    gateway: ServerProcess, model_id: str
) -> None:
    llm = ChatOllama(base_url=gateway.url, model=model_id, temperature=0, num_predict=100)
    city = llm.with_structured_output(City).invoke("Describe Paris.")
    assert isinstance(city, City)


@pytest.mark.parametrize("stream", [False, True])
def test_ollama_format_schema_answers_validate(
    gateway: ServerProcess, model_id: str, stream: bool
) -> None:
    options = {"temperature": 0, "num_predict": 100}
    with ollama.Client(host=gateway.url) as client:
        if stream:
            chunks = list(client.chat(model=model_id, messages=QUESTION, format=CITY_SCHEMA,
                                      options=options, stream=True))  # fmt: skip
            text = "".join(chunk.message.content or "" for chunk in chunks)
        else:
            text = (
                client.chat(
                    model=model_id, messages=QUESTION, format=CITY_SCHEMA, options=options
                ).message.content
                or ""
            )
        raw = client.generate(model=model_id, prompt="Paris, as JSON:", raw=True,
                              format=CITY_SCHEMA, options=options).response  # fmt: skip
    jsonschema.validate(json.loads(text), CITY_SCHEMA)
    jsonschema.validate(json.loads(raw), CITY_SCHEMA)


def test_vertex_response_schema_answers_validate(gateway: ServerProcess) -> None:
    response = httpx.post(
        f"{gateway.url}/predict",
        json={"instances": [{"messages": QUESTION}, {"prompt": "Paris, as JSON:"}],
              "parameters": {"temperature": 0, "maxOutputTokens": 100,
                             "responseMimeType": "application/json",
                             "responseSchema": CITY_SCHEMA}},
        timeout=120,
    )  # fmt: skip
    response.raise_for_status()
    for prediction in response.json()["predictions"]:
        jsonschema.validate(json.loads(prediction["content"]), CITY_SCHEMA)


# The same city as Gemini's own Schema writes it (Vertex AI's OpenAPI subset).
GEMINI_CITY = {
    "type": "OBJECT",
    "properties": {
        "name": {"type": "STRING", "maxLength": 30},
        "country": {"type": "STRING", "maxLength": 30, "example": "France"},
        # Bounded: a base model otherwise writes digits until the token limit.
        "population": {
            "type": "INTEGER",
            "format": "int64",
            "nullable": True,
            "minimum": 0,
            "maximum": 99_999_999,
        },
    },
    "required": ["name", "country", "population"],
    "propertyOrdering": ["country", "name", "population"],
}
GEMINI_CITY_AS_JSON_SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 30},
        "country": {"type": "string", "maxLength": 30},
        "population": {"type": ["integer", "null"], "minimum": 0, "maximum": 99_999_999},
    },
    "required": ["name", "country", "population"],
    "additionalProperties": False,
}


def test_vertex_takes_geminis_schema_and_a_json_schema(gateway: ServerProcess) -> None:
    def predict(parameters: dict[str, Any]) -> httpx.Response:
        return httpx.post(
            f"{gateway.url}/predict",
            json={"instances": [{"messages": QUESTION}], "parameters": {
                "temperature": 0, "maxOutputTokens": 100,
                "responseMimeType": "application/json", **parameters}},
            timeout=300,
        )  # fmt: skip

    gemini = predict({"responseSchema": GEMINI_CITY})
    gemini.raise_for_status()
    city = json.loads(gemini.json()["predictions"][0]["content"])
    jsonschema.validate(city, GEMINI_CITY_AS_JSON_SCHEMA)
    assert list(city) == GEMINI_CITY["propertyOrdering"]
    as_json_schema = predict({"responseJsonSchema": CITY_SCHEMA})
    as_json_schema.raise_for_status()
    jsonschema.validate(json.loads(as_json_schema.json()["predictions"][0]["content"]), CITY_SCHEMA)
    both = predict({"responseSchema": GEMINI_CITY, "responseJsonSchema": CITY_SCHEMA})
    assert both.status_code == 400
    assert both.json()["error"].startswith("parameters.response_json_schema: send it or")
    bad = predict({"responseJsonSchema": UNCOMPILABLE})
    assert bad.status_code == 400
    assert bad.json()["error"].startswith("parameters.response_json_schema is a JSON schema")


def test_a_schema_the_engine_cannot_compile_is_a_400_naming_the_field(
    gateway: ServerProcess, model_id: str
) -> None:
    openai_answer = httpx.post(
        f"{gateway.url}/v1/chat/completions",
        json={"model": model_id, "messages": QUESTION, "response_format": {
            "type": "json_schema", "json_schema": {"name": "x", "schema": UNCOMPILABLE}}},
    )  # fmt: skip
    ollama_answer = httpx.post(
        f"{gateway.url}/api/chat",
        json={"model": model_id, "messages": QUESTION, "format": UNCOMPILABLE},
    )
    vertex_answer = httpx.post(
        f"{gateway.url}/predict",
        json={"instances": [{"prompt": "x"}], "parameters": {
            "responseMimeType": "application/json", "responseSchema": UNCOMPILABLE}},
    )  # fmt: skip
    assert openai_answer.status_code == 400
    assert openai_answer.json()["error"]["param"] == "response_format"
    assert (
        "cannot compile: Pointer '/definitions/missing' does not exist"
        in (openai_answer.json()["error"]["message"])
    )
    assert ollama_answer.status_code == 400
    assert ollama_answer.json()["error"].startswith("format is a JSON schema the engine cannot")
    assert vertex_answer.status_code == 400
    assert vertex_answer.json()["error"].startswith("parameters.response_schema is a JSON schema")


def _nested(levels: int) -> dict[str, Any]:
    """A JSON schema whose objects nest ``levels`` levels deep (two per property)."""
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(levels // 2):
        schema = {"type": "object", "properties": {"a": schema}}
    return schema


TOO_DEEP = _nested(800)  # json.loads reads it; walking it recursively would not


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/v1/chat/completions", {"response_format": {"type": "json_schema", "json_schema": {
            "name": "x", "schema": TOO_DEEP}}}, "response_format.json_schema.schema"),
        ("/v1/chat/completions", {"tools": [{"type": "function", "function": {
            "name": "f", "parameters": TOO_DEEP}}]}, "tools.0.function.parameters"),
        ("/v1/chat/completions", {"messages": [*QUESTION, {"role": "assistant", "tool_calls": [
            {"id": "c", "type": "function", "function": {
                "name": "f", "arguments": json.dumps(TOO_DEEP)}}]}]}, "messages.1.tool_calls.0"),
        ("/api/chat", {"format": TOO_DEEP}, "format"),
        ("/api/chat", {"messages": [*QUESTION, {"role": "assistant", "content": "", "tool_calls": [
            {"function": {"name": "f", "arguments": TOO_DEEP}}]}]},
         "messages.1.tool_calls.0.function.arguments"),
    ],
)  # fmt: skip
def test_json_nested_too_deep_is_a_400_naming_the_field(
    gateway: ServerProcess, model_id: str, path: str, body: dict[str, Any], param: str
) -> None:
    response = httpx.post(
        f"{gateway.url}{path}", json={"model": model_id, "messages": QUESTION, **body}
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    message = error["message"] if isinstance(error, dict) else error
    assert param in message
    assert "nests deeper than 64 levels" in message


def test_vertex_schemas_nested_too_deep_are_400s_naming_the_field(gateway: ServerProcess) -> None:
    for name in ("responseSchema", "responseJsonSchema"):
        response = httpx.post(
            f"{gateway.url}/predict",
            json={"instances": [{"prompt": "x"}], "parameters": {
                "responseMimeType": "application/json", name: TOO_DEEP}},
        )  # fmt: skip
        assert response.status_code == 400, response.text
        assert "nests deeper than 64 levels" in response.json()["error"]
