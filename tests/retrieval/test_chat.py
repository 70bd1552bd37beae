"""``rag:<collection>`` models through clients nobody here wrote: the openai SDK (plain and
streaming) and LangChain's ChatOpenAI, on SQLite and on Postgres."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from langchain_openai import ChatOpenAI

from tests.retrieval.conftest import STORES, rag_env, store_env
from tests.servers import ServerProcess

pytestmark = pytest.mark.model

DOCS = {
    "bees.md": b"# Bees\n\nHoneybee workers collect nectar and make honey in the hive.",
    "lighthouse.txt": b"The Fresnel lens, introduced in 1822, made lighthouse beams visible "
    b"more than thirty kilometres away.",
}
QUESTION = "Honeybee workers make honey"


@pytest.fixture(scope="module", params=STORES)
def rag(
    request: pytest.FixtureRequest, gateway: ServerProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    postgres = request.getfixturevalue("postgres") if request.param == "postgres" else None
    store = store_env(request.param, tmp_path_factory.mktemp("rag"), postgres)
    with ServerProcess("liftoff.retrieval.main:app", rag_env(gateway, store)) as server:
        yield server


@pytest.fixture(scope="module")
def collection(rag: ServerProcess) -> str:
    name = f"chat-{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=rag.url, timeout=300) as client:
        created = client.post("/v1/collections", json={"name": name, "min_score": 0.5})
        assert created.status_code == 201, created.text
        for source, data in DOCS.items():
            response = client.put(f"/v1/collections/{name}/documents/{source}", content=data)
            assert response.status_code == 201, response.text
    return name


@pytest.fixture
def sdk(rag: ServerProcess) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{rag.url}/v1", api_key="unused", max_retries=0) as client:
        yield client


def ask(text: str) -> list[Any]:
    return [{"role": "user", "content": text}]


def test_models_lists_each_collection_as_rag_model(sdk: openai.OpenAI, collection: str) -> None:
    assert f"rag:{collection}" in [model.id for model in sdk.models.list()]


def test_an_answer_carries_its_citations(sdk: openai.OpenAI, collection: str) -> None:
    completion = sdk.chat.completions.create(
        model=f"rag:{collection}", messages=ask(QUESTION), max_tokens=8, temperature=0, seed=0
    )
    assert completion.model == f"rag:{collection}"
    assert completion.choices[0].message.content
    assert completion.usage is not None and completion.usage.completion_tokens <= 8
    citations = completion.model_extra["citations"]  # type: ignore[index]
    assert citations[0]["source"] == "bees.md"
    assert citations[0]["index"] == 1 and citations[0]["chunk"] == 0
    assert 0.5 <= citations[0]["score"] <= 1
    assert "Honeybee" in citations[0]["text"]
    assert completion.model_extra["search_query"] == QUESTION  # type: ignore[index]


def test_a_streamed_answer_starts_with_its_citations(sdk: openai.OpenAI, collection: str) -> None:
    stream = sdk.chat.completions.create(
        model=f"rag:{collection}",
        messages=ask(QUESTION),
        max_tokens=8,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    first = chunks[0]
    assert first.choices[0].delta.role == "assistant"
    assert first.model_extra["citations"][0]["source"] == "bees.md"  # type: ignore[index]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] in ("stop", "length")
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens <= 8


@pytest.mark.parametrize("stream", [False, True])
def test_nothing_relevant_means_i_dont_know_without_asking_the_model(
    sdk: openai.OpenAI, collection: str, stream: bool
) -> None:
    request: dict[str, Any] = {
        "model": f"rag:{collection}",
        "messages": ask("Who won the football world cup in 1998?"),
        "extra_body": {"retrieval": {"min_score": 0.99}},
    }
    if stream:
        chunks = list(sdk.chat.completions.create(**request, stream=True))
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        citations = chunks[0].model_extra["citations"]  # type: ignore[index]
    else:
        completion = sdk.chat.completions.create(**request)
        text = completion.choices[0].message.content or ""
        citations = completion.model_extra["citations"]  # type: ignore[index]
        assert completion.usage is not None and completion.usage.total_tokens == 0
    assert text.startswith("I don't know.")
    assert "0.99" in text
    assert citations == []


def test_a_follow_up_is_rewritten_and_still_finds_its_passage(
    sdk: openai.OpenAI, collection: str
) -> None:
    messages = [
        {"role": "user", "content": "Tell me about lighthouses."},
        {"role": "assistant", "content": "Lighthouses mark dangerous coasts."},
        {"role": "user", "content": "When was the Fresnel lens introduced?"},
    ]
    completion = sdk.chat.completions.create(
        model=f"rag:{collection}", messages=messages, max_tokens=4, temperature=0
    )
    extra = completion.model_extra or {}
    assert extra["citations"][0]["source"] == "lighthouse.txt"
    plain = sdk.chat.completions.create(
        model=f"rag:{collection}", messages=messages, max_tokens=4, temperature=0,
        extra_body={"retrieval": {"rewrite": False}},
    )  # fmt: skip
    assert (plain.model_extra or {})["search_query"] == "When was the Fresnel lens introduced?"


def test_langchain_chat_openai_uses_a_rag_model(rag: ServerProcess, collection: str) -> None:
    chat = ChatOpenAI(
        base_url=f"{rag.url}/v1", api_key="unused", model=f"rag:{collection}",  # type: ignore[arg-type]
        max_tokens=6, temperature=0, max_retries=0,
    )  # fmt: skip
    assert chat.invoke(QUESTION).content


@pytest.mark.parametrize(
    ("field", "value"),
    [("tools", [{"type": "function", "function": {"name": "f"}}]), ("n", 2), ("logprobs", True)],
)
def test_fields_it_cannot_honour_are_refused_by_name(
    sdk: openai.OpenAI, collection: str, field: str, value: Any
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.chat.completions.create(
            model=f"rag:{collection}", messages=ask(QUESTION), extra_body={field: value}
        )
    assert caught.value.param == field


def test_a_model_that_is_not_rag_is_404(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError, match="rag:<collection>"):
        sdk.chat.completions.create(model="gemma-3-270m-q4_k_m", messages=ask("hi"))


def test_a_client_leaving_a_stream_stops_the_generation_at_the_gateway(
    rag: ServerProcess, gateway: ServerProcess, collection: str
) -> None:
    # Greedy decoding of this question runs to the token limit (minutes here), so the gateway's
    # chat request can only end early if the service closed it when its own client left.
    body = {
        "model": f"rag:{collection}", "messages": ask(QUESTION), "max_tokens": 2000,
        "stream": True, "temperature": 0, "seed": 0,
    }  # fmt: skip
    answered = chats_answered(gateway)
    with (
        httpx.Client(timeout=300) as client,
        client.stream("POST", f"{rag.url}/v1/chat/completions", json=body) as response,
    ):
        tokens = 0
        for line in response.iter_lines():
            tokens += '"delta":{"content":' in line
            if tokens == 3:
                break  # the answer is streaming: leave
    assert tokens == 3
    deadline = time.monotonic() + 30
    while chats_answered(gateway) == answered:
        assert time.monotonic() < deadline, "the gateway still generates for a client gone"
        time.sleep(0.2)


def chats_answered(gateway: ServerProcess) -> float:
    """Chat requests the gateway has finished answering (counted when a response ends)."""
    metrics = httpx.get(f"{gateway.url}/metrics", timeout=10).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("liftoff_requests_total{") and 'route="/v1/chat/completions"' in line
    )


@pytest.mark.parametrize(
    ("content", "stop"),
    [("x" * 200_001, None), ([{"type": "text", "text": "x" * 200_001}], None), ("q", ["s" * 257])],
)
def test_overlong_messages_and_stops_are_400_naming_the_field(
    rag: ServerProcess, content: Any, stop: Any
) -> None:
    body: dict[str, Any] = {"model": "rag:any", "messages": [{"role": "user", "content": content}]}
    if stop is not None:
        body["stop"] = stop
    response = httpx.post(f"{rag.url}/v1/chat/completions", json=body, timeout=30)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == ("stop" if stop else "messages.0.content")
