"""The whole gateway with ``LIFTOFF_BACKEND=ollama``, in front of the fake Ollama server:
official clients in, Ollama's wire format out, and nothing but generation forwarded."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import ollama
import openai
import pytest

from tests.fakes.ollama_server import DEFAULT_MODEL, FakeOllama
from tests.servers import ServerProcess


@pytest.fixture
def gateway(fake_ollama: FakeOllama) -> Iterator[ServerProcess]:
    env = {"LIFTOFF_BACKEND": "ollama", "OLLAMA_HOST": fake_ollama.url,
           "LIFTOFF_OLLAMA_KEEP_ALIVE": "-1"}  # fmt: skip
    with ServerProcess("liftoff.api.main:app", env) as server:
        yield server


def test_sampling_parameters_reach_ollama_from_every_surface(
    gateway: ServerProcess, fake_ollama: FakeOllama
) -> None:
    with openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="unused") as client:
        client.chat.completions.create(
            model=DEFAULT_MODEL, messages=[{"role": "user", "content": "one two three"}],
            temperature=0.3, top_p=0.8, max_tokens=3, stop=["x"], seed=9,
            frequency_penalty=0.5, presence_penalty=0.25,
            extra_body={"top_k": 7, "min_p": 0.1, "typical_p": 0.9, "repeat_penalty": 1.2,
                        "repeat_last_n": 16},
        )  # fmt: skip
    with ollama.Client(host=gateway.url) as client:
        client.chat(
            model=DEFAULT_MODEL, messages=[{"role": "user", "content": "one two three"}],
            options={"temperature": 0.3, "top_p": 0.8, "num_predict": 3, "stop": ["x"],
                     "seed": 9, "top_k": 7, "frequency_penalty": 0.5, "presence_penalty": 0.25,
                     "typical_p": 0.9, "repeat_penalty": 1.2, "repeat_last_n": 16},
        )  # fmt: skip
    httpx.post(
        f"{gateway.url}/predict",
        json={"instances": [{"messages": [{"role": "user", "content": "one two three"}]}],
              "parameters": {"temperature": 0.3, "topP": 0.8, "maxOutputTokens": 3,
                             "stopSequences": ["x"], "seed": 9, "topK": 7,
                             "frequencyPenalty": 0.5, "presencePenalty": 0.25}},
    ).raise_for_status()  # fmt: skip
    common = {"temperature": 0.3, "top_p": 0.8, "top_k": 7, "num_predict": 3, "seed": 9,
              "stop": ["x"], "frequency_penalty": 0.5, "presence_penalty": 0.25}  # fmt: skip
    engine = {"typical_p": 0.9, "repeat_penalty": 1.2, "repeat_last_n": 16}
    sent = fake_ollama.bodies("/api/chat")
    assert len(sent) == 3
    assert sent[0]["options"] == {**common, **engine, "min_p": 0.1}
    assert sent[1]["options"] == {**common, **engine}
    assert sent[2]["options"] == common
    for body in sent:
        assert body["keep_alive"] == "-1"
        assert body["messages"] == [{"role": "user", "content": "one two three"}]


def test_a_requests_window_keep_alive_and_log_probabilities_reach_ollama(
    gateway: ServerProcess, fake_ollama: FakeOllama
) -> None:
    body = {"model": DEFAULT_MODEL, "messages": [{"role": "user", "content": "a b c"}],
            "stream": False, "options": {"num_ctx": 8192}, "keep_alive": "10m",
            "logprobs": True, "top_logprobs": 2}  # fmt: skip
    answer = httpx.post(f"{gateway.url}/api/chat", json=body).json()
    sent = fake_ollama.bodies("/api/chat")[-1]
    assert sent["options"]["num_ctx"] == 8192
    assert (sent["keep_alive"], sent["logprobs"], sent["top_logprobs"]) == ("10m", True, 2)
    assert [entry["token"] for entry in answer["logprobs"]] == ["c", " b", " a", " c", " b", " a"]
    assert all(len(entry["top_logprobs"]) == 2 for entry in answer["logprobs"])
    with openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="unused") as client:
        chat = client.chat.completions.create(
            model=DEFAULT_MODEL, messages=[{"role": "user", "content": "a b"}],
            logprobs=True, top_logprobs=1, max_tokens=2,
        )  # fmt: skip
    assert chat.choices[0].logprobs is not None
    assert [t.token for t in chat.choices[0].logprobs.content or []] == ["b", " a"]


def test_unloading_the_model_reaches_ollama(
    gateway: ServerProcess, fake_ollama: FakeOllama
) -> None:
    answer = httpx.post(f"{gateway.url}/api/generate", json={"model": DEFAULT_MODEL,
                                                             "keep_alive": 0}).json()  # fmt: skip
    assert answer["done_reason"] == "unload"
    assert DEFAULT_MODEL not in fake_ollama.loaded
    assert fake_ollama.bodies("/api/generate")[-1] == {"model": DEFAULT_MODEL, "stream": False,
                                                       "keep_alive": 0}  # fmt: skip


def test_logit_bias_is_refused_naming_it(gateway: ServerProcess) -> None:
    response = httpx.post(
        f"{gateway.url}/v1/chat/completions",
        json={"model": DEFAULT_MODEL, "messages": [{"role": "user", "content": "a"}],
              "logit_bias": {"15": 5}},
    )  # fmt: skip
    assert response.status_code == 400
    assert response.json()["error"]["message"] == (
        "logit_bias is not supported by the ollama backend"
    )


def test_ollama_client_streams_through_the_gateway(gateway: ServerProcess) -> None:
    with ollama.Client(host=gateway.url) as client:
        chunks = list(
            client.generate(model=DEFAULT_MODEL, prompt="alpha beta gamma", raw=True,
                            options={"num_predict": 4}, stream=True)
        )  # fmt: skip
    assert chunks[-1].done and chunks[-1].eval_count == 4
    assert "".join(chunk.response for chunk in chunks).split() == [
        "gamma", "beta", "alpha", "gamma",
    ]  # fmt: skip


def test_mid_stream_failure_reaches_the_client_as_ollamas_error(
    gateway: ServerProcess, fake_ollama: FakeOllama
) -> None:
    fake_ollama.fail_after_tokens = 2
    with ollama.Client(host=gateway.url) as client, pytest.raises(ollama.ResponseError) as caught:
        for _ in client.chat(
            model=DEFAULT_MODEL, messages=[{"role": "user", "content": "a b c d e"}],
            options={"num_predict": 10}, stream=True,
        ):  # fmt: skip
            pass
    assert "Ollama failed mid-stream" in caught.value.error
    assert httpx.get(f"{gateway.url}/healthz").status_code == 200


def test_pull_is_never_forwarded_to_ollama(gateway: ServerProcess, fake_ollama: FakeOllama) -> None:
    before = len(fake_ollama.bodies("/api/pull"))
    response = httpx.post(f"{gateway.url}/api/pull", json={"model": "../../etc/passwd"})
    assert response.status_code == 403
    assert len(fake_ollama.bodies("/api/pull")) == before


def test_tags_lists_ollamas_models(gateway: ServerProcess) -> None:
    names = [m["name"] for m in httpx.get(f"{gateway.url}/api/tags").json()["models"]]
    assert DEFAULT_MODEL in names
