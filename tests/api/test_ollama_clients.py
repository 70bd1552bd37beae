"""The official ``ollama`` Python client, unchanged, pointed at the gateway."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import ollama
import pytest

from tests.servers import ServerProcess


@pytest.fixture
def client(gateway: ServerProcess) -> Iterator[ollama.Client]:
    with ollama.Client(host=gateway.url) as client:
        yield client


def test_chat_returns_message_and_ollama_counters(client: ollama.Client, model_id: str) -> None:
    response = client.chat(
        model=model_id,
        messages=[{"role": "user", "content": "Name a fruit."}],
        options={"num_predict": 6, "temperature": 0},
    )
    assert response.message.role == "assistant"
    assert response.message.content
    assert response.done is True
    assert response.done_reason == "length"
    assert response.eval_count == 6
    assert response.prompt_eval_count is not None and response.prompt_eval_count > 0
    assert response.total_duration is not None and response.total_duration > 0
    assert response.eval_duration is not None and response.eval_duration > 0


def test_chat_stream_ends_with_a_done_chunk_carrying_counts(
    client: ollama.Client, model_id: str
) -> None:
    request = {
        "model": model_id,
        "messages": [{"role": "user", "content": "Describe rain."}],
        "options": {"num_predict": 10, "temperature": 0},
    }
    whole = client.chat(**request)  # type: ignore[call-overload]
    chunks = list(client.chat(**request, stream=True))  # type: ignore[call-overload]
    assert [c.done for c in chunks] == [False] * (len(chunks) - 1) + [True]
    assert "".join(c.message.content or "" for c in chunks) == whole.message.content
    final = chunks[-1]
    assert final.done_reason == "length"
    assert final.eval_count == 10
    assert final.prompt_eval_count == whole.prompt_eval_count


def test_generate_and_its_stream_agree(client: ollama.Client, model_id: str) -> None:
    options = {"num_predict": 8, "temperature": 0}
    whole = client.generate(model=model_id, prompt="Once upon a time", options=options)
    chunks = list(
        client.generate(model=model_id, prompt="Once upon a time", options=options, stream=True)
    )
    assert whole.response
    assert "".join(chunk.response for chunk in chunks) == whole.response
    assert chunks[-1].done and chunks[-1].eval_count == 8


def test_raw_generate_is_a_plain_continuation_without_chat_turns(
    client: ollama.Client, model_id: str
) -> None:
    options = {"num_predict": 4, "temperature": 0}
    templated = client.generate(model=model_id, prompt="1, 2, 3,", options=options)
    raw = client.generate(model=model_id, prompt="1, 2, 3,", options=options, raw=True)
    # The chat template wraps the prompt in turn markers: more prompt tokens than raw.
    assert raw.prompt_eval_count is not None and templated.prompt_eval_count is not None
    assert raw.prompt_eval_count < templated.prompt_eval_count


def test_list_shows_the_served_models(
    client: ollama.Client, model_id: str, embedding_model_id: str
) -> None:
    models = client.list().models
    assert [m.model for m in models] == [model_id, embedding_model_id]
    assert models[0].size is not None and models[0].size > 100_000_000


def test_embed_returns_one_vector_per_input(client: ollama.Client, embedding_model_id: str) -> None:
    result = client.embed(model=embedding_model_id, input=["first text", "second text"])
    assert len(result.embeddings) == 2
    assert len(result.embeddings[0]) == 384
    assert result.embeddings[0] != result.embeddings[1]


def test_version_answers(gateway: ServerProcess) -> None:
    version = httpx.get(f"{gateway.url}/api/version").json()["version"]
    assert tuple(int(part) for part in version.split(".")) >= (0, 5, 0)


@pytest.mark.parametrize("operation", ["pull", "push", "create", "delete", "copy"])
def test_model_management_is_refused_through_the_gateway(
    gateway: ServerProcess, operation: str
) -> None:
    method = "DELETE" if operation == "delete" else "POST"
    response = httpx.request(
        method, f"{gateway.url}/api/{operation}", json={"model": "llama3.1:8b"}
    )
    assert response.status_code == 403
    assert "not available through the gateway" in response.json()["error"]


def test_unknown_model_raises_the_clients_response_error(client: ollama.Client) -> None:
    with pytest.raises(ollama.ResponseError) as caught:
        client.chat(model="llama3.1:8b", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == 404
    assert "'llama3.1:8b' is not served here" in caught.value.error


def test_curl_style_body_without_json_content_type_is_accepted(
    gateway: ServerProcess, model_id: str
) -> None:
    # Ollama's documented examples use `curl -d`, which sends a form content type.
    options = '"options": {"num_predict": 2}'
    body = f'{{"model": "{model_id}", "prompt": "Hi", "stream": false, {options}}}'
    response = httpx.post(
        f"{gateway.url}/api/generate",
        content=body,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["done"] is True
