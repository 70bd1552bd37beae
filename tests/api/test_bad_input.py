"""Bad requests get a 4xx in the protocol's own error shape, with a message naming the field."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.servers import ServerProcess

MODEL = "{model}"  # replaced by the served model id

OPENAI_CASES: list[tuple[str, str, Any, int, str]] = [
    # (case, path, body, status, message)
    ("malformed JSON", "/v1/chat/completions", '{"model": "m", "messages": [', 400,
     "the request body is not valid JSON: "),
    ("messages missing", "/v1/chat/completions", {"model": MODEL}, 400,
     "messages is required"),
    ("messages not a list", "/v1/chat/completions", {"model": MODEL, "messages": "hi"}, 400,
     'messages: Input should be a valid list (got "hi")'),
    ("empty messages", "/v1/chat/completions", {"model": MODEL, "messages": []}, 400,
     "messages: List should have at least 1 item after validation, not 0 (got [])"),
    ("unknown role", "/v1/chat/completions",
     {"model": MODEL, "messages": [{"role": "wizard", "content": "hi"}]}, 400,
     "messages.0.role: Input should be 'system', 'developer', 'user', 'assistant' or 'tool' "
     '(got "wizard")'),
    ("content of wrong type", "/v1/chat/completions",
     {"model": MODEL, "messages": [{"role": "user", "content": 42}]}, 400,
     "messages.0.content: Input should be a valid string (got 42)"),
    ("negative max_tokens", "/v1/chat/completions",
     {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": -5}, 400,
     "max_tokens: Input should be greater than or equal to 1 (got -5)"),
    ("huge max_tokens", "/v1/chat/completions",
     {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 10**9},
     400, "max_tokens is 1000000000, above this gateway's limit of 16384 "
     "(LIFTOFF_MAX_TOKENS_LIMIT)"),
    ("temperature out of range", "/v1/chat/completions",
     {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "temperature": 3.5},
     400, "temperature: Input should be less than or equal to 2 (got 3.5)"),
    ("temperature as text", "/v1/completions",
     {"model": MODEL, "prompt": "hi", "temperature": "hot"}, 400,
     'temperature: Input should be a valid number, unable to parse string as a number '
     '(got "hot")'),
    ("several choices with tools", "/v1/chat/completions",
     {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "n": 3,
      "tools": [{"type": "function", "function": {"name": "f"}}]}, 400,
     "n must be 1 when tools are sent"),
    ("unsupported parameter", "/v1/chat/completions",
     {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "functions": []}, 400,
     "functions is not supported: OpenAI's deprecated functions API: send tools and tool_choice"),
    ("unknown model", "/v1/completions", {"model": "gpt-4", "prompt": "hi"}, 404,
     f"model 'gpt-4' is not served here; available: {MODEL}, all-minilm-l6-v2"),
    ("empty embeddings input", "/v1/embeddings", {"model": MODEL, "input": []}, 400,
     "input: List should have at least 1 item after validation, not 0 (got [])"),
    ("prompt longer than the context window", "/v1/completions",
     {"model": MODEL, "prompt": "word " * 2000}, 400,
     "the prompt has 2002 tokens but the model's context window is 512 tokens; shorten it or "
     "raise LIFTOFF_CONTEXT_SIZE"),
]  # fmt: skip

OLLAMA_CASES: list[tuple[str, str, Any, int, str]] = [
    ("malformed JSON", "/api/chat", "{not json", 400, "the request body is not valid JSON: "),
    ("model missing", "/api/generate", {"prompt": "hi"}, 400, "model is required"),
    ("empty messages", "/api/chat", {"model": MODEL, "messages": []}, 400,
     "messages: List should have at least 1 item after validation, not 0 (got [])"),
    ("unknown role", "/api/chat",
     {"model": MODEL, "messages": [{"role": "robot", "content": "hi"}]}, 400,
     "messages.0.role: Input should be 'system', 'user', 'assistant' or 'tool' (got \"robot\")"),
    ("num_predict below -2", "/api/generate",
     {"model": MODEL, "prompt": "hi", "options": {"num_predict": -7}}, 400,
     "options.num_predict: Input should be greater than or equal to -2 (got -7)"),
    ("huge num_predict", "/api/generate",
     {"model": MODEL, "prompt": "hi", "options": {"num_predict": 10**7}}, 400,
     "options.num_predict is 10000000, above this gateway's limit of 16384 "
     "(LIFTOFF_MAX_TOKENS_LIMIT)"),
    ("unknown option", "/api/generate",
     {"model": MODEL, "prompt": "hi", "options": {"creativity": 11}}, 400,
     "options.creativity is not a supported parameter"),
    ("unknown model", "/api/chat",
     {"model": "llama3.1:8b", "messages": [{"role": "user", "content": "hi"}]}, 404,
     f"model 'llama3.1:8b' is not served here; available: {MODEL}, all-minilm-l6-v2"),
    ("prompt longer than the context window", "/api/generate",
     {"model": MODEL, "prompt": "word " * 2000, "raw": True, "stream": False}, 400,
     "the prompt has 2002 tokens but the model's context window is 512 tokens; shorten it or "
     "raise LIFTOFF_CONTEXT_SIZE"),
]  # fmt: skip

VERTEX_CASES: list[tuple[str, str, Any, int, str]] = [
    ("no instances", "/predict", {"instances": []}, 400,
     "instances: List should have at least 1 item after validation, not 0 (got [])"),
    ("instance with neither prompt nor messages", "/predict", {"instances": [{}]}, 400,
     "instances.0: Value error, an instance has either 'prompt' or 'messages' (got {})"),
    ("bad parameter", "/predict",
     {"instances": [{"prompt": "hi"}], "parameters": {"maxOutputTokens": 0}}, 400,
     "parameters.maxOutputTokens: Input should be greater than or equal to 1 (got 0)"),
]  # fmt: skip


def _post(gateway: ServerProcess, path: str, body: Any, model_id: str) -> httpx.Response:
    if isinstance(body, str):
        headers = {"content-type": "application/json"}
        return httpx.post(gateway.url + path, content=body, headers=headers, timeout=30)
    encoded = httpx.Request("POST", "/", json=body).content.decode()
    return httpx.post(
        gateway.url + path, content=encoded.replace(MODEL, model_id), timeout=30,
        headers={"content-type": "application/json"},
    )  # fmt: skip


@pytest.mark.parametrize(("case", "path", "body", "status", "message"), OPENAI_CASES)
def test_openai_bad_input(
    gateway: ServerProcess, model_id: str, case: str, path: str, body: Any, status: int,
    message: str,
) -> None:  # fmt: skip
    response = _post(gateway, path, body, model_id)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    expected = message.replace(MODEL, model_id)
    assert (
        error["message"].startswith(expected)
        if expected.endswith(": ")
        else (error["message"] == expected)
    ), error["message"]
    assert error["code"] == status
    assert set(error) == {"message", "type", "param", "code"}


@pytest.mark.parametrize(("case", "path", "body", "status", "message"), OLLAMA_CASES + VERTEX_CASES)
def test_ollama_and_vertex_bad_input(
    gateway: ServerProcess, model_id: str, case: str, path: str, body: Any, status: int,
    message: str,
) -> None:  # fmt: skip
    response = _post(gateway, path, body, model_id)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    expected = message.replace(MODEL, model_id)
    assert error.startswith(expected) if expected.endswith(": ") else error == expected, error


def test_oversized_body_is_413_before_it_is_read(gateway: ServerProcess) -> None:
    body = b'{"model": "m", "prompt": "' + b"x" * (5 * 1024 * 1024) + b'"}'
    response = httpx.post(f"{gateway.url}/v1/completions", content=body, timeout=30)
    assert response.status_code == 413
    assert response.json()["error"]["message"] == (
        "the request body is larger than this route's limit of 4194304 bytes"
    )


def test_vertex_predict_caps_bodies_at_one_and_a_half_megabytes(gateway: ServerProcess) -> None:
    prompt = "x" * 1_600_000
    response = httpx.post(
        f"{gateway.url}/predict", json={"instances": [{"prompt": prompt}]}, timeout=30
    )
    assert response.status_code == 413
    assert response.json()["error"] == (
        "the request body is larger than this route's limit of 1500000 bytes"
    )


def test_unknown_route_is_a_404_in_the_protocols_shape(gateway: ServerProcess) -> None:
    response = httpx.get(f"{gateway.url}/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found"


def test_errors_never_carry_a_traceback(gateway: ServerProcess, model_id: str) -> None:
    response = _post(gateway, "/v1/chat/completions", {"model": MODEL, "messages": 5}, model_id)
    assert response.status_code == 400
    assert "Traceback" not in response.text and "File " not in response.text


def test_ollama_routes_read_form_encoded_bodies_as_json_as_ollama_does(
    gateway: ServerProcess, model_id: str
) -> None:
    # `curl -d '{...}'`, as in Ollama's own docs, sends application/x-www-form-urlencoded.
    body = {"model": model_id, "prompt": "Hi", "stream": False, "options": {"num_predict": 2}}
    form = {"content-type": "application/x-www-form-urlencoded"}
    response = httpx.post(
        f"{gateway.url}/api/generate", content=json.dumps(body), headers=form, timeout=60
    )
    assert response.status_code == 200, response.text
    assert response.json()["done"] is True


def test_openai_routes_name_the_content_type_when_the_body_is_not_sent_as_json(
    gateway: ServerProcess, model_id: str
) -> None:
    body = json.dumps({"model": model_id, "prompt": "Hi", "max_tokens": 2})
    form = {"content-type": "application/x-www-form-urlencoded"}
    response = httpx.post(f"{gateway.url}/v1/completions", content=body, headers=form, timeout=30)
    assert response.status_code == 400
    assert response.json()["error"]["message"] == (
        "the request body must be JSON, sent with 'Content-Type: application/json'"
    )


def test_openapi_documents_the_gateways_own_error_statuses(gateway: ServerProcess) -> None:
    documented = httpx.get(f"{gateway.url}/openapi.json", timeout=10).json()
    statuses = set(documented["paths"]["/v1/chat/completions"]["post"]["responses"])
    assert {"400", "401", "404", "429", "503", "504"} <= statuses
    assert "409" not in statuses  # runs conflict in the evaluation service, not here
