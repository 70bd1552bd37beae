"""Sampling parameters mean the same on every surface and reach the embedded engine."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.servers import ServerProcess

PROMPT = "1, 2, 3, 4,"


def openai_completion(gateway: ServerProcess, model: str, **sampling: Any) -> dict[str, Any]:
    body = {"model": model, "prompt": PROMPT, **sampling}
    choice = httpx.post(f"{gateway.url}/v1/completions", json=body, timeout=60).json()
    return {"text": choice["choices"][0]["text"], "reason": choice["choices"][0]["finish_reason"]}


def ollama_generate(gateway: ServerProcess, model: str, **sampling: Any) -> dict[str, Any]:
    options = dict(sampling)
    if "max_tokens" in options:
        options["num_predict"] = options.pop("max_tokens")
    body = {"model": model, "prompt": PROMPT, "raw": True, "stream": False, "options": options}
    answer = httpx.post(f"{gateway.url}/api/generate", json=body, timeout=60).json()
    return {"text": answer["response"], "reason": answer["done_reason"]}


def vertex_predict(gateway: ServerProcess, model: str, **sampling: Any) -> dict[str, Any]:
    parameters = dict(sampling)
    if "max_tokens" in parameters:
        parameters["maxOutputTokens"] = parameters.pop("max_tokens")
    body = {"instances": [{"prompt": PROMPT}], "parameters": parameters}
    prediction = httpx.post(f"{gateway.url}/predict", json=body, timeout=60).json()
    return {
        "text": prediction["predictions"][0]["content"],
        "reason": prediction["predictions"][0]["finish_reason"],
    }


SURFACES = [openai_completion, ollama_generate, vertex_predict]


@pytest.mark.parametrize(
    "sampling",
    [
        {"temperature": 0, "max_tokens": 7},
        {"temperature": 1.3, "seed": 1234, "max_tokens": 7},
        {"temperature": 0, "max_tokens": 30, "stop": [" 7"]},
    ],
    ids=["greedy", "seeded", "stop"],
)
def test_every_surface_generates_the_same_text_for_the_same_parameters(
    gateway: ServerProcess, model_id: str, sampling: dict[str, Any]
) -> None:
    results = [surface(gateway, model_id, **sampling) for surface in SURFACES]
    assert results[0]["text"]
    assert results[1] == results[0]
    assert results[2] == results[0]


def test_max_tokens_caps_the_output_on_every_surface(gateway: ServerProcess, model_id: str) -> None:
    for surface in SURFACES:
        assert surface(gateway, model_id, temperature=0, max_tokens=2)["reason"] == "length"
    full = openai_completion(gateway, model_id, temperature=0, max_tokens=8)["text"]
    two = openai_completion(gateway, model_id, temperature=0, max_tokens=2)["text"]
    assert full.startswith(two) and len(two) < len(full)


def test_stop_sequence_ends_generation_before_it(gateway: ServerProcess, model_id: str) -> None:
    counted = openai_completion(gateway, model_id, temperature=0, max_tokens=30)["text"]
    assert " 7" in counted
    stopped = openai_completion(gateway, model_id, temperature=0, max_tokens=30, stop=[" 7"])
    assert stopped == {"text": counted[: counted.index(" 7")], "reason": "stop"}


def test_seed_makes_hot_sampling_repeatable_and_different_seeds_differ(
    gateway: ServerProcess, model_id: str
) -> None:
    def hot(seed: int) -> str:
        return str(
            openai_completion(gateway, model_id, temperature=1.5, seed=seed, max_tokens=12)["text"]
        )

    assert hot(5) == hot(5)
    assert len({hot(seed) for seed in range(1, 6)}) > 1


@pytest.mark.parametrize("narrowing", [{"top_k": 1}, {"top_p": 0.001}])
def test_top_k_and_top_p_reach_the_engine(
    gateway: ServerProcess, model_id: str, narrowing: dict[str, Any]
) -> None:
    greedy = openai_completion(gateway, model_id, temperature=0, max_tokens=10)
    for surface in SURFACES:
        narrowed = surface(gateway, model_id, temperature=1.5, max_tokens=10, **narrowing)
        assert narrowed == greedy, surface.__name__


# Every sampling field the engines have, honoured on the embedded engine --------------------

REPEATS = "The cat sat on the mat. The cat"


def completion(gateway: ServerProcess, model: str, **fields: Any) -> dict[str, Any]:
    body = {"model": model, "prompt": fields.pop("prompt", PROMPT), "max_tokens": 12, **fields}
    response = httpx.post(f"{gateway.url}/v1/completions", json=body, timeout=60)
    assert response.status_code == 200, response.text
    return dict(response.json())


def text(gateway: ServerProcess, model: str, **fields: Any) -> str:
    return str(completion(gateway, model, **fields)["choices"][0]["text"])


@pytest.mark.parametrize(
    ("prompt", "base", "field"),
    [
        (PROMPT, {"temperature": 0}, {"frequency_penalty": 1.5}),
        (REPEATS, {"temperature": 0}, {"presence_penalty": 2.0}),
        (PROMPT, {"temperature": 0}, {"repeat_penalty": 1.8}),
        (PROMPT, {"temperature": 0, "repeat_penalty": 1.8}, {"repeat_last_n": 2}),
        (REPEATS, {"temperature": 1.5, "seed": 11}, {"min_p": 0.3}),
        (REPEATS, {"temperature": 1.5, "seed": 11}, {"typical_p": 0.2}),
        # Token 236743 is " ", which Gemma puts between the numbers it counts.
        (PROMPT, {"temperature": 0}, {"logit_bias": {"236743": -100}}),
    ],
    ids=["frequency_penalty", "presence_penalty", "repeat_penalty", "repeat_last_n", "min_p",
         "typical_p", "logit_bias"],
)  # fmt: skip
def test_each_sampling_field_changes_what_the_engine_generates(
    gateway: ServerProcess,
    model_id: str,
    prompt: str,
    base: dict[str, Any],
    field: dict[str, Any],
) -> None:
    without = text(gateway, model_id, prompt=prompt, **base)
    assert text(gateway, model_id, prompt=prompt, **base, **field) != without


def test_the_new_sampling_fields_mean_the_same_on_every_surface(
    gateway: ServerProcess, model_id: str
) -> None:
    penalties = {"temperature": 0, "max_tokens": 10, "frequency_penalty": 1.5,
                 "presence_penalty": 0.5}  # fmt: skip
    results = [surface(gateway, model_id, **penalties) for surface in SURFACES]
    assert results[1] == results[0] and results[2] == results[0]
    engine = {"temperature": 0, "max_tokens": 10, "repeat_penalty": 1.8, "repeat_last_n": 8}
    assert ollama_generate(gateway, model_id, **engine) == openai_completion(
        gateway, model_id, **engine
    )


def test_logprobs_are_the_engines_for_the_tokens_it_generated(
    gateway: ServerProcess, model_id: str
) -> None:
    chat = httpx.post(
        f"{gateway.url}/v1/chat/completions",
        json={"model": model_id, "messages": [{"role": "user", "content": "Count: 1, 2,"}],
              "max_tokens": 4, "temperature": 0, "logprobs": True, "top_logprobs": 3},
        timeout=60,
    ).json()["choices"][0]  # fmt: skip
    content = chat["logprobs"]["content"]
    assert "".join(entry["token"] for entry in content) == chat["message"]["content"]
    for entry in content:
        assert entry["logprob"] <= 0 and len(entry["top_logprobs"]) == 3
        # Greedy decoding picks the likeliest token.
        assert entry["logprob"] == pytest.approx(max(t["logprob"] for t in entry["top_logprobs"]))
    legacy = completion(gateway, model_id, temperature=0, max_tokens=4, logprobs=0)
    logprobs = legacy["choices"][0]["logprobs"]
    assert "".join(logprobs["tokens"]) == legacy["choices"][0]["text"]
    assert logprobs["top_logprobs"] == [{} for _ in logprobs["tokens"]]


def test_n_answers_with_a_seed_differ(gateway: ServerProcess, model_id: str) -> None:
    def answers() -> list[str]:
        body = completion(gateway, model_id, prompt=REPEATS, temperature=1.5, seed=5, n=3)
        assert [c["index"] for c in body["choices"]] == [0, 1, 2]
        return [c["text"] for c in body["choices"]]

    # Each answer samples with a seed of its own (seed + i), so they differ. Whether a run
    # repeats token for token is llama.cpp's to say: it batches the concurrent generations
    # together, and a different batch can tip a near-tied sample the other way.
    first = answers()
    assert len(set(first)) > 1


def test_num_ctx_is_the_window_the_request_runs_in(gateway: ServerProcess, model_id: str) -> None:
    def generate(**options: Any) -> httpx.Response:
        body = {"model": model_id, "prompt": PROMPT, "raw": True, "stream": False,
                "options": {"temperature": 0, "num_predict": 40, **options}}  # fmt: skip
        return httpx.post(f"{gateway.url}/api/generate", json=body, timeout=60)

    full = generate(num_ctx=12).json()
    assert full["done_reason"] == "length"
    assert full["prompt_eval_count"] + full["eval_count"] == 12
    assert generate().json()["response"].startswith(full["response"])
    too_small = generate(num_ctx=4)
    assert too_small.status_code == 400
    assert "requested context window (num_ctx) is 4 tokens" in too_small.json()["error"]
    too_big = generate(num_ctx=100_000)
    assert too_big.status_code == 400
    assert too_big.json()["error"] == (
        "options.num_ctx is 100000, above the embedded engine's context window of 512 tokens "
        "(LIFTOFF_CONTEXT_SIZE)"
    )


def test_keep_alive_zero_is_refused_where_the_model_stays_loaded(
    gateway: ServerProcess, model_id: str
) -> None:
    chat = {"model": model_id, "messages": [{"role": "user", "content": "hi"}], "stream": False,
            "options": {"num_predict": 1}}  # fmt: skip
    assert httpx.post(f"{gateway.url}/api/chat", json={**chat, "keep_alive": "10m"},
                      timeout=60).status_code == 200  # fmt: skip
    refused = httpx.post(f"{gateway.url}/api/chat", json={**chat, "keep_alive": 0}, timeout=60)
    assert refused.status_code == 400
    assert refused.json()["error"].startswith("keep_alive 0 would unload the model")
    load = httpx.post(f"{gateway.url}/api/generate", json={"model": model_id}, timeout=60).json()
    assert (load["done"], load["done_reason"]) == (True, "load")
    unload = httpx.post(f"{gateway.url}/api/generate", json={"model": model_id, "keep_alive": 0})
    assert unload.status_code == 400
