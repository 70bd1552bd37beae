"""Several answers (``n``) and log probabilities in each surface's own shape, streamed and
whole; the backend sees one generation per answer, each with its own seed."""

from __future__ import annotations

import json
from typing import Any

import pytest

from liftoff.api.errors import BackendError
from tests.api.protocols.conftest import ServeBackend
from tests.api.scripted_backend import ScriptedBackend

HI = [{"role": "user", "content": "hi"}]


def sse(text: str) -> list[dict[str, Any]]:
    events = [
        line.removeprefix("data: ") for line in text.splitlines() if line.startswith("data: ")
    ]
    assert events[-1] == "[DONE]"
    return [json.loads(event) for event in events[:-1]]


async def test_n_answers_each_from_its_own_generation_and_seed(
    serve_backend: ServeBackend,
) -> None:
    backend = ScriptedBackend([0, 0])
    gateway = serve_backend(backend)
    body = {"model": "m", "messages": HI, "n": 3, "seed": 40}
    answer = (await gateway.client.post("/v1/chat/completions", json=body)).json()

    assert [c["index"] for c in answer["choices"]] == [0, 1, 2]
    assert all(c["message"] == {"role": "assistant", "content": "t0t1"} for c in answer["choices"])
    assert all(c["finish_reason"] == "stop" for c in answer["choices"])
    assert sorted(r.options.seed for r in backend.requests) == [40, 41, 42]
    assert all(r.choices == 1 for r in backend.requests)
    # The prompt counted once, the answers' tokens together, as OpenAI counts them.
    assert answer["usage"] == {"prompt_tokens": 1, "completion_tokens": 6, "total_tokens": 7}


async def test_n_streams_each_answer_under_its_index_with_its_role_first(
    serve_backend: ServeBackend,
) -> None:
    gateway = serve_backend(ScriptedBackend([0, 0]))
    body = {"model": "m", "messages": HI, "n": 2, "stream": True}
    chunks = sse((await gateway.client.post("/v1/chat/completions", json=body)).text)
    for index in (0, 1):
        mine = [c["choices"][0] for c in chunks if c["choices"][0]["index"] == index]
        assert mine[0]["delta"]["role"] == "assistant"
        assert "".join(c["delta"].get("content", "") for c in mine) == "t0t1"
        assert mine[-1]["finish_reason"] == "stop"


async def test_n_on_completions(serve_backend: ServeBackend) -> None:
    gateway = serve_backend(ScriptedBackend([0]))
    body = {"model": "m", "prompt": "p", "n": 2}
    answer = (await gateway.client.post("/v1/completions", json=body)).json()
    assert [(c["index"], c["text"]) for c in answer["choices"]] == [(0, "t0"), (1, "t0")]


async def test_n_above_the_gateways_limit_names_n(serve_backend: ServeBackend) -> None:
    gateway = serve_backend(ScriptedBackend([0]), max_choices=2)
    body = {"model": "m", "messages": HI, "n": 3}
    response = await gateway.client.post("/v1/chat/completions", json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == "n"
    assert error["message"] == "n is 3, above this gateway's limit of 2 (LIFTOFF_MAX_CHOICES)"


async def test_one_answer_failing_fails_the_request(serve_backend: ServeBackend) -> None:
    gateway = serve_backend(ScriptedBackend([0], fail=BackendError("engine fell over")))
    body = {"model": "m", "messages": HI, "n": 2}
    response = await gateway.client.post("/v1/chat/completions", json=body)
    assert response.status_code == 502
    assert gateway.slots.active == 0


async def test_chat_logprobs_in_openais_shape(serve_backend: ServeBackend) -> None:
    gateway = serve_backend(ScriptedBackend([0, 0]))
    body = {"model": "m", "messages": HI, "logprobs": True, "top_logprobs": 2}
    answer = (await gateway.client.post("/v1/chat/completions", json=body)).json()
    content = answer["choices"][0]["logprobs"]["content"]
    assert content[1] == {
        "token": "t1", "logprob": -0.5, "bytes": [116, 49],
        "top_logprobs": [{"token": "alt1", "logprob": -1.5, "bytes": list(b"alt1")},
                         {"token": "alt2", "logprob": -2.5, "bytes": list(b"alt2")}],
    }  # fmt: skip
    streamed = sse(
        (await gateway.client.post("/v1/chat/completions", json={**body, "stream": True})).text
    )
    tokens = [e["token"] for c in streamed if c["choices"][0]["logprobs"]
              for e in c["choices"][0]["logprobs"]["content"]]  # fmt: skip
    assert tokens == ["t0", "t1"]


async def test_no_logprobs_unless_asked(serve_backend: ServeBackend) -> None:
    gateway = serve_backend(ScriptedBackend([0]))
    answer = (
        await gateway.client.post("/v1/chat/completions", json={"model": "m", "messages": HI})
    ).json()
    assert answer["choices"][0]["logprobs"] is None


async def test_top_logprobs_without_logprobs_names_it(serve_backend: ServeBackend) -> None:
    gateway = serve_backend(ScriptedBackend([0]))
    body = {"model": "m", "messages": HI, "top_logprobs": 2}
    response = await gateway.client.post("/v1/chat/completions", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "top_logprobs needs logprobs: true"


async def test_completion_logprobs_in_the_legacy_shape(serve_backend: ServeBackend) -> None:
    gateway = serve_backend(ScriptedBackend([0, 0]))
    body = {"model": "m", "prompt": "p", "logprobs": 1}
    logprobs = (await gateway.client.post("/v1/completions", json=body)).json()["choices"][0][
        "logprobs"
    ]
    assert logprobs == {
        "tokens": ["t0", "t1"],
        "token_logprobs": [-0.25, -0.5],
        "top_logprobs": [{"alt1": -1.25}, {"alt1": -1.5}],
        "text_offset": [0, 2],
    }
    streamed = sse(
        (await gateway.client.post("/v1/completions", json={**body, "stream": True})).text
    )
    offsets = [c["choices"][0]["logprobs"]["text_offset"] for c in streamed[:2]]
    assert offsets == [[0], [2]]


@pytest.mark.parametrize("stream", [False, True])
async def test_ollama_logprobs_in_ollamas_shape(serve_backend: ServeBackend, stream: bool) -> None:
    gateway = serve_backend(ScriptedBackend([0, 0]))
    body = {"model": "m", "messages": HI, "logprobs": True, "top_logprobs": 1, "stream": stream}
    response = await gateway.client.post("/api/chat", json=body)
    lines = [json.loads(line) for line in response.text.splitlines()]
    logprobs = [entry for line in lines for entry in line.get("logprobs", [])]
    assert logprobs == [
        {"token": "t0", "logprob": -0.25, "bytes": [116, 48],
         "top_logprobs": [{"token": "alt1", "logprob": -1.25, "bytes": list(b"alt1")}]},
        {"token": "t1", "logprob": -0.5, "bytes": [116, 49],
         "top_logprobs": [{"token": "alt1", "logprob": -1.5, "bytes": list(b"alt1")}]},
    ]  # fmt: skip


async def test_vertex_logprobs_in_geminis_shape(serve_backend: ServeBackend) -> None:
    gateway = serve_backend(ScriptedBackend([0]))
    body = {
        "instances": [{"prompt": "p"}],
        "parameters": {"model": "m", "responseLogprobs": True, "logprobs": 1},
    }
    prediction = (await gateway.client.post("/predict", json=body)).json()["predictions"][0]
    assert prediction["logprobsResult"] == {
        "chosenCandidates": [{"token": "t0", "logProbability": -0.25}],
        "topCandidates": [{"candidates": [{"token": "alt1", "logProbability": -1.25}]}],
    }
