"""The official ``openai`` SDK, unchanged, against the gateway serving the embedded model."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from tests.servers import ServerProcess


@pytest.fixture
def client(gateway: ServerProcess) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="unused", max_retries=0) as client:
        yield client


def test_chat_completion_returns_text_usage_and_finish_reason(
    client: openai.OpenAI, model_id: str
) -> None:
    response = client.chat.completions.create(
        model=model_id,
        messages=[{"role": "user", "content": "Name three colours."}],
        max_tokens=8,
        temperature=0,
    )
    choice = response.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content
    assert choice.finish_reason in ("stop", "length")
    assert response.model == model_id
    assert response.usage is not None
    assert 0 < response.usage.completion_tokens <= 8
    assert response.usage.prompt_tokens > 5  # the chat template adds turn markers
    assert response.usage.total_tokens == (
        response.usage.prompt_tokens + response.usage.completion_tokens
    )


def test_chat_stream_yields_deltas_that_join_to_the_non_streamed_text(
    client: openai.OpenAI, model_id: str
) -> None:
    request = {
        "model": model_id,
        "messages": [{"role": "user", "content": "Write about the sea."}],
        "max_tokens": 12,
        "temperature": 0,
        "seed": 7,
    }
    whole = client.chat.completions.create(**request)  # type: ignore[call-overload]
    chunks = list(
        client.chat.completions.create(
            **request, stream=True, stream_options={"include_usage": True}
        )  # type: ignore[call-overload]
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert chunks[0].choices[0].delta.role == "assistant"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "length" and set(finishes[:-1]) == {None}
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 12


def test_completion_and_its_stream_agree(client: openai.OpenAI, model_id: str) -> None:
    whole = client.completions.create(
        model=model_id, prompt="The capital of France is", max_tokens=6, temperature=0
    )
    streamed = client.completions.create(
        model=model_id, prompt="The capital of France is", max_tokens=6, temperature=0,
        stream=True,
    )  # fmt: skip
    pieces = [chunk.choices[0].text for chunk in streamed if chunk.choices]
    assert whole.choices[0].text
    assert "".join(pieces) == whole.choices[0].text
    assert whole.object == "text_completion"
    assert whole.usage is not None and whole.usage.completion_tokens == 6


def test_models_lists_the_chat_and_the_embedding_model(
    client: openai.OpenAI, model_id: str, embedding_model_id: str
) -> None:
    assert [model.id for model in client.models.list()] == [model_id, embedding_model_id]


def test_embeddings_come_back_one_per_input_in_the_sdk_default_encoding(
    client: openai.OpenAI, embedding_model_id: str
) -> None:
    # The SDK asks for base64 unless told otherwise and decodes it itself.
    result = client.embeddings.create(model=embedding_model_id, input=["hello world", "goodbye"])
    floats = client.embeddings.create(
        model=embedding_model_id, input=["hello world", "goodbye"], encoding_format="float"
    )
    assert [row.index for row in result.data] == [0, 1]
    assert len(result.data[0].embedding) == 384  # all-MiniLM-L6-v2's dimension
    assert result.data[0].embedding == pytest.approx(floats.data[0].embedding, rel=1e-6)
    assert result.data[0].embedding != result.data[1].embedding
    assert result.usage.prompt_tokens > 0


def test_unknown_model_is_a_404_naming_what_is_served(
    client: openai.OpenAI, model_id: str, embedding_model_id: str
) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.body == {
        "message": f"model 'gpt-4o' is not served here; available: {model_id}, "
        f"{embedding_model_id}",
        "type": "model_not_found",
        "param": "model",
        "code": 404,
    }
