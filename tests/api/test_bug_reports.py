"""Faults found by replaying public bug reports against the gateway, each with the input that
showed it, and the class around it on every surface and backend:

- text held back as a possible stop string was lost when the token limit ended the answer;
- system messages vanished from the prompt (a chat of one system message had 4 tokens);
- sampling settings were ignored (Ollama's penalties) or refused (``frequency_penalty: 0``);
- embeddings longer than 512 tokens failed with a 502 from llama.cpp's physical batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from liftoff.api.app import create_app
from liftoff.api.backends.llamacpp import LlamaCppBackend
from liftoff.api.config import Settings
from tests.fakes.ollama_server import DEFAULT_MODEL, FakeModel, FakeOllama
from tests.llama_server import LlamaServer
from tests.servers import ServerProcess, serve_in_thread

ALPHABET = "Here is the English alphabet: ABC"


# The gateway in front of each backend -------------------------------------------------------


class Target:
    """A gateway URL and the model it serves."""

    def __init__(self, url: str, model: str) -> None:
        self.url = url
        self.model = model


@pytest.fixture(scope="module")
def llama_server(gguf_path: Path) -> Iterator[LlamaServer]:
    with LlamaServer(str(gguf_path)) as server:
        yield server


@pytest.fixture(scope="module")
def openai_gateway(llama_server: LlamaServer, gguf_path: Path) -> Iterator[Target]:
    env = {"LIFTOFF_BACKEND": "openai", "OPENAI_BASE_URL": llama_server.url,
           "LIFTOFF_MODEL": str(gguf_path)}  # fmt: skip
    with ServerProcess("liftoff.api.main:app", env) as server:
        yield Target(server.url, str(gguf_path))


@pytest.fixture(scope="module")
def ollama_fake() -> Iterator[FakeOllama]:
    fake = FakeOllama()
    fake.add_model(FakeModel(DEFAULT_MODEL))
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def ollama_gateway(ollama_fake: FakeOllama) -> Iterator[Target]:
    env = {"LIFTOFF_BACKEND": "ollama", "OLLAMA_HOST": ollama_fake.url}
    with ServerProcess("liftoff.api.main:app", env) as server:
        yield Target(server.url, DEFAULT_MODEL)


@pytest.fixture(params=["llamacpp", "openai", "ollama"])
def target(request: pytest.FixtureRequest) -> Target:
    if request.param == "llamacpp":
        gateway: ServerProcess = request.getfixturevalue("gateway")
        return Target(gateway.url, request.getfixturevalue("model_id"))
    fixture = {"openai": "openai_gateway", "ollama": "ollama_gateway"}[request.param]
    made: Target = request.getfixturevalue(fixture)
    return made


# Each route's answer: (text, finish reason) -------------------------------------------------


def _post(target: Target, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(target.url + path, json=body, timeout=300)
    assert response.status_code == 200, response.text
    return dict(response.json())


def completions(target: Target, prompt: str, **sampling: Any) -> tuple[str, str]:
    body = {"model": target.model, "prompt": prompt, **sampling}
    choice = _post(target, "/v1/completions", body)["choices"][0]
    return choice["text"], choice["finish_reason"]


def chat(target: Target, prompt: str, **sampling: Any) -> tuple[str, str]:
    body = {"model": target.model, "messages": [{"role": "user", "content": prompt}], **sampling}
    choice = _post(target, "/v1/chat/completions", body)["choices"][0]
    return choice["message"]["content"], choice["finish_reason"]


def _ollama_options(sampling: dict[str, Any]) -> dict[str, Any]:
    options = dict(sampling)
    options["num_predict"] = options.pop("max_tokens")
    return options


def generate(target: Target, prompt: str, **sampling: Any) -> tuple[str, str]:
    body = {"model": target.model, "prompt": prompt, "raw": True, "stream": False,
            "options": _ollama_options(sampling)}  # fmt: skip
    answer = _post(target, "/api/generate", body)
    return answer["response"], answer["done_reason"]


def ollama_chat(target: Target, prompt: str, **sampling: Any) -> tuple[str, str]:
    body = {"model": target.model, "messages": [{"role": "user", "content": prompt}],
            "stream": False, "options": _ollama_options(sampling)}  # fmt: skip
    answer = _post(target, "/api/chat", body)
    return answer["message"]["content"], answer["done_reason"]


def predict(target: Target, prompt: str, **sampling: Any) -> tuple[str, str]:
    parameters = {"model": target.model, **sampling}
    parameters["maxOutputTokens"] = parameters.pop("max_tokens")
    if "stop" in parameters:
        parameters["stopSequences"] = parameters.pop("stop")
    body = {"instances": [{"prompt": prompt}], "parameters": parameters}
    prediction = _post(target, "/predict", body)["predictions"][0]
    return prediction["content"], prediction["finish_reason"]


ROUTES: list[Callable[..., tuple[str, str]]] = [completions, chat, generate, ollama_chat, predict]


# 1. Text lost around stop strings ------------------------------------------------------------


def test_the_reported_input_keeps_the_text_before_the_limit(gateway: ServerProcess,
                                                            model_id: str) -> None:  # fmt: skip
    target = Target(gateway.url, model_id)
    without = completions(target, ALPHABET, max_tokens=9, temperature=0)
    stopped = completions(target, ALPHABET, max_tokens=9, temperature=0, stop=[" of letters"])
    assert without == ("DE.\n\nThe alphabet is a set of", "length")
    assert stopped == without  # it was "DE.\n\nThe alphabet is a set"


@pytest.mark.parametrize("route", ROUTES, ids=lambda route: route.__name__)
def test_the_answer_with_stop_strings_is_the_answer_without_them_cut_before_the_first(
    target: Target, route: Callable[..., tuple[str, str]]
) -> None:
    sampling = {"max_tokens": 9, "temperature": 0}
    # llama.cpp's greedy answer to a prompt it has cached can differ from its first one (the
    # cached prefix is not recomputed, so near-tied logits may fall the other way): compare
    # answers that all reuse the cache.
    route(target, ALPHABET, **sampling)
    text, reason = route(target, ALPHABET, **sampling)
    assert len(text) > 4
    # A stop string the answer ends with the start of, but never completes: the bug's shape.
    never = text[-3:] + "\u2063never"
    assert route(target, ALPHABET, stop=[never], **sampling) == (text, reason)
    # A stop string inside the answer: the answer up to it.
    middle = text[len(text) // 2 : len(text) // 2 + 2]
    cut = text[: text.index(middle)]
    assert route(target, ALPHABET, stop=[never, middle], **sampling) == (cut, "stop")


@pytest.mark.parametrize(
    ("stop", "message"),
    [([""], "stop.0 is empty; a stop string needs a character"),
     (["x" * 257], "stop.0 has 257 characters; at most 256"),
     (["a"] * 17, "stop has 17 strings; at most 16")],
)  # fmt: skip
def test_stop_strings_are_validated(
    gateway: ServerProcess, model_id: str, stop: list[str], message: str
) -> None:
    body = {"model": model_id, "prompt": "hi", "stop": stop}
    response = httpx.post(f"{gateway.url}/v1/completions", json=body, timeout=30)
    assert response.status_code == 400
    assert response.json()["error"]["message"] == message


# 2. System messages dropped ------------------------------------------------------------------


def _prompt_tokens(target: Target, route: str, messages: list[dict[str, str]]) -> int:
    if route == "/v1/chat/completions":
        body = {"model": target.model, "messages": messages, "max_tokens": 1}
        return int(_post(target, route, body)["usage"]["prompt_tokens"])
    if route == "/api/chat":
        body = {"model": target.model, "messages": messages, "stream": False,
                "options": {"num_predict": 1}}  # fmt: skip
        return int(_post(target, route, body)["prompt_eval_count"])
    body = {"instances": [{"messages": messages}],
            "parameters": {"model": target.model, "maxOutputTokens": 1}}  # fmt: skip
    return int(_post(target, route, body)["predictions"][0]["usage"]["prompt_tokens"])


SHORT, LONG = "Answer in French.", "Answer in French, in one short sentence, politely. " * 8


@pytest.mark.parametrize("route", ["/v1/chat/completions", "/api/chat", "/predict"])
def test_prompt_tokens_grow_with_the_system_text(
    gateway: ServerProcess, model_id: str, route: str
) -> None:
    target = Target(gateway.url, model_id)
    only_short = _prompt_tokens(target, route, [{"role": "system", "content": SHORT}])
    only_long = _prompt_tokens(target, route, [{"role": "system", "content": LONG}])
    assert only_short > 4  # the reported count, whatever the system text was
    assert only_long > only_short + 40
    user = {"role": "user", "content": "Hello"}
    last_short = _prompt_tokens(target, route, [user, {"role": "system", "content": SHORT}])
    last_long = _prompt_tokens(target, route, [user, {"role": "system", "content": LONG}])
    assert last_long > last_short + 40


def test_llama_cpps_server_gets_the_system_text_too(openai_gateway: Target) -> None:
    short = _prompt_tokens(openai_gateway, "/v1/chat/completions",
                           [{"role": "system", "content": SHORT}])  # fmt: skip
    long = _prompt_tokens(openai_gateway, "/v1/chat/completions",
                          [{"role": "system", "content": LONG}])  # fmt: skip
    assert long > short + 40


# 3. Sampling settings ignored or refused -----------------------------------------------------


def test_ollamas_penalties_change_what_the_embedded_engine_generates(
    gateway: ServerProcess, model_id: str
) -> None:
    def generate_with(**options: Any) -> str:
        body = {"model": model_id, "prompt": "1, 2, 3, 4,", "stream": False, "raw": True,
                "options": {"temperature": 0, "num_predict": 16, **options}}  # fmt: skip
        return str(_post(Target(gateway.url, model_id), "/api/generate", body)["response"])

    plain = generate_with()
    assert generate_with(repeat_penalty=1.8, frequency_penalty=1.5, presence_penalty=1.5) != plain


def test_a_zero_frequency_penalty_as_clients_send_it_is_accepted(target: Target) -> None:
    text, _ = chat(target, "Hello", max_tokens=2, frequency_penalty=0, presence_penalty=0)
    assert isinstance(text, str)


# 4. Embeddings over 512 tokens ---------------------------------------------------------------


@pytest.fixture(scope="module")
def default_window(gguf_path: Path) -> Iterator[Target]:
    """The gateway with the embedded engine's default window (LIFTOFF_CONTEXT_SIZE 2048)."""
    app = create_app(Settings(model=str(gguf_path), auth="off", host="127.0.0.1"))
    with serve_in_thread(app) as url:
        backend = app.state.generator.backend
        assert isinstance(backend, LlamaCppBackend) and backend.context_size == 2048
        yield Target(url, backend.model_id)


def test_the_reported_input_is_embedded(default_window: Target) -> None:
    answer = _post(default_window, "/api/embed",
                   {"model": default_window.model, "input": " apple" * 520})  # fmt: skip
    assert answer["prompt_eval_count"] == 521  # it was a 502 from llama.cpp
    assert len(answer["embeddings"]) == 1 and len(answer["embeddings"][0]) > 1


def test_beyond_the_window_embeddings_are_refused_or_truncated_as_asked(
    default_window: Target,
) -> None:
    url, model = default_window.url, default_window.model
    too_long = " apple" * 2100
    openai = httpx.post(f"{url}/v1/embeddings", json={"model": model, "input": too_long},
                        timeout=300)  # fmt: skip
    assert openai.status_code == 400
    error = openai.json()["error"]
    assert (error["param"], error["type"]) == ("input", "context_length_exceeded")
    assert error["message"].startswith("input 0 has 2101 tokens but the model's context window")
    listed = httpx.post(f"{url}/v1/embeddings", json={"model": model, "input": ["a", too_long]},
                        timeout=300)  # fmt: skip
    assert listed.json()["error"]["param"] == "input.1"
    refused = httpx.post(
        f"{url}/api/embed", json={"model": model, "input": too_long, "truncate": False}, timeout=300
    )
    assert refused.status_code == 400 and "2101 tokens" in refused.json()["error"]
    truncated = _post(default_window, "/api/embed", {"model": model, "input": too_long})
    assert truncated["prompt_eval_count"] == 2048
    # Cut at the end, as Ollama truncates: the same vector as the input's first 2047 words
    # (with the model's BOS token, 2048 tokens).
    fits = _post(default_window, "/api/embed", {"model": model, "input": " apple" * 2047})
    assert fits["prompt_eval_count"] == 2048
    assert truncated["embeddings"] == fits["embeddings"]


def test_llama_cpps_server_refusing_a_long_input_is_a_400_naming_it(
    openai_gateway: Target,
) -> None:
    body = {"model": openai_gateway.model, "input": " apple" * 520}
    response = httpx.post(f"{openai_gateway.url}/v1/embeddings", json=body, timeout=300)
    assert response.status_code == 400  # not a 502 that clients retry for ever
    assert response.json()["error"]["param"] == "input"


def test_ollama_truncates_only_when_asked(ollama_gateway: Target, ollama_fake: FakeOllama) -> None:
    too_long = "word " * 5000  # the fake's window is 4096 words
    body = {"model": ollama_gateway.model, "input": too_long}
    assert _post(ollama_gateway, "/api/embed", body)["prompt_eval_count"] == 4096
    assert ollama_fake.bodies("/api/embed")[-1]["truncate"] is True
    refused = httpx.post(f"{ollama_gateway.url}/api/embed", json={**body, "truncate": False})
    assert refused.status_code == 400
