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
