"""The backend contract: what every backend behind the gateway does the same way.

One suite, run against each backend as the gateway builds it: the embedded engine with the
real packaged Gemma, llama.cpp's own server through the ``openai`` backend, Ollama (its
protocol-faithful fake), and Gemini on the Gemini API and on Vertex AI (its fake, reached by
the real google-genai client; Vertex with a service-account key file and Google's token
exchange). A new backend joins by adding a harness here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from liftoff.api.backends.base import (
    Backend,
    ChatMessage,
    Finish,
    GenerationEvent,
    GenerationRequest,
    SamplingOptions,
    TextDelta,
)
from liftoff.api.backends.gemini import GeminiBackend
from liftoff.api.backends.llamacpp import LlamaCppBackend
from liftoff.api.backends.ollama import OllamaBackend
from liftoff.api.backends.openai import OpenAIBackend
from liftoff.api.errors import BackendUnavailable, ModelNotFound
from tests.fakes.gemini_server import API_KEY, CHAT_MODEL, EMBEDDING_MODEL, FakeGemini
from tests.fakes.google_oauth import ServiceAccount
from tests.fakes.ollama_server import DEFAULT_MODEL as OLLAMA_MODEL
from tests.fakes.ollama_server import EMBEDDING_MODEL as OLLAMA_EMBEDDING_MODEL
from tests.fakes.ollama_server import FakeOllama
from tests.llama_server import LlamaServer

PROMPT = "1, 2, 3, 4,"
UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nothing listens, connections refused


@dataclass
class Harness:
    backend: Backend
    model: str
    embedding_model: str
    # The same kind of backend, configured the same way, with its upstream unreachable.
    unreachable: Callable[[], Backend]
    reports_embedding_tokens: bool = True
    name: str = ""  # the harness's id in HARNESSES


async def ready(backend: Backend, timeout: float = 10.0) -> Backend:
    await backend.start()
    deadline = time.monotonic() + timeout
    while True:
        try:
            await backend.check_ready()
            return backend
        except BackendUnavailable:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


@pytest.fixture(scope="module")
def loaded_llamacpp(gguf_path: Path, embedding_gguf_path: Path) -> Iterator[LlamaCppBackend]:
    # Loaded once for the module (in a thread: fixtures may be set up inside the test's
    # event loop); its generations run on any loop. The gateway's two slots.
    backend = LlamaCppBackend(gguf_path, context_size=512, embedding_gguf=embedding_gguf_path)
    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, backend.start()).result()
        yield backend
        thread.submit(asyncio.run, backend.close()).result()


@pytest.fixture(scope="module")
def llama_server(gguf_path: Path) -> Iterator[LlamaServer]:
    with LlamaServer(str(gguf_path)) as server:
        yield server


async def _llamacpp(request: pytest.FixtureRequest) -> Harness:
    backend: LlamaCppBackend = request.getfixturevalue("loaded_llamacpp")
    gguf = backend.gguf
    assert backend.embedding is not None
    return Harness(
        backend,
        backend.model_id,
        backend.embedding.model_id,  # all-MiniLM-L6-v2, in its own engine
        unreachable=lambda: LlamaCppBackend(gguf),  # never started: no engine to reach
    )


async def _openai(request: pytest.FixtureRequest) -> Harness:
    server: LlamaServer = request.getfixturevalue("llama_server")
    model = str(request.getfixturevalue("gguf_path"))  # llama.cpp's server names it so

    def make(url: str) -> OpenAIBackend:
        return OpenAIBackend(url, model=model, api_key=None, timeout=60)

    return Harness(await ready(make(server.url)), model, model, lambda: make(UNREACHABLE))


async def _ollama(request: pytest.FixtureRequest) -> Harness:
    fake: FakeOllama = request.getfixturevalue("fake_ollama")

    def make(url: str) -> OllamaBackend:
        return OllamaBackend(url, OLLAMA_MODEL, connect_timeout=2, timeout=10,
                             retry_initial_seconds=0.02, retry_max_seconds=0.1)  # fmt: skip

    backend = await ready(make(fake.url))
    return Harness(backend, OLLAMA_MODEL, OLLAMA_EMBEDDING_MODEL, lambda: make(UNREACHABLE))


async def _gemini_api(request: pytest.FixtureRequest) -> Harness:
    fake: FakeGemini = request.getfixturevalue("fake_gemini")

    def make(url: str) -> GeminiBackend:
        return GeminiBackend.gemini_api(
            CHAT_MODEL, api_key=API_KEY, embedding_model=EMBEDDING_MODEL, base_url=url
        )

    # The Gemini API's batchEmbedContents reports no token counts.
    return Harness(await ready(make(fake.url)), CHAT_MODEL, EMBEDDING_MODEL,
                   lambda: make(UNREACHABLE), reports_embedding_tokens=False)  # fmt: skip


async def _gemini_vertex(request: pytest.FixtureRequest) -> Harness:
    fake: FakeGemini = request.getfixturevalue("fake_gemini")
    tmp_path: Path = request.getfixturevalue("tmp_path")
    monkeypatch: pytest.MonkeyPatch = request.getfixturevalue("monkeypatch")
    account = fake.oauth.trust(ServiceAccount())
    key_file = account.key_file(tmp_path / "key.json", fake.oauth.token_uri)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))

    def make(url: str) -> GeminiBackend:
        return GeminiBackend.vertex_ai(
            CHAT_MODEL, embedding_model=EMBEDDING_MODEL, location="us-central1", base_url=url
        )  # the project comes from the key file, as Application Default Credentials say

    return Harness(await ready(make(fake.url)), CHAT_MODEL, EMBEDDING_MODEL,
                   lambda: make(UNREACHABLE))  # fmt: skip


HARNESSES: dict[str, Callable[[pytest.FixtureRequest], Awaitable[Harness]]] = {
    "llamacpp": _llamacpp,
    "openai": _openai,
    "ollama": _ollama,
    "gemini-api": _gemini_api,
    "gemini-vertex": _gemini_vertex,
}


# The real model makes these slower; `make validate`'s "not model" leaves them out.
_ON_THE_MODEL = {"llamacpp", "openai"}


@pytest.fixture(
    params=[
        pytest.param(name, marks=[pytest.mark.model] if name in _ON_THE_MODEL else [])
        for name in HARNESSES
    ]
)
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    made = await HARNESSES[request.param](request)
    made.name = request.param
    yield made
    if not isinstance(made.backend, LlamaCppBackend):  # the module fixture closes that one
        await made.backend.close()


async def run(harness: Harness, *, prompt: str = PROMPT, model: str | None = None,
              **options: object) -> list[GenerationEvent]:  # fmt: skip
    request = GenerationRequest(
        model or harness.model, prompt=prompt, options=SamplingOptions(**options)
    )
    return [event async for event in harness.backend.generate(request)]


def text_of(events: list[GenerationEvent]) -> str:
    return "".join(event.text for event in events if isinstance(event, TextDelta))


def finish_of(events: list[GenerationEvent]) -> Finish:
    finishes = [event for event in events if isinstance(event, Finish)]
    assert len(finishes) == 1 and events[-1] is finishes[0], "exactly one Finish, last"
    return finishes[0]


async def test_lists_its_models(harness: Harness) -> None:
    listed = {model.id for model in await harness.backend.list_models()}
    assert harness.model in listed


async def test_streams_text_then_one_finish_with_usage(harness: Harness) -> None:
    events = await run(harness, temperature=0, max_tokens=8)

    assert isinstance(events[0], TextDelta)
    assert text_of(events).strip()
    usage = finish_of(events).usage
    assert usage.prompt_tokens > 0
    assert 0 < usage.completion_tokens <= 8


async def test_chat_streams_an_answer(harness: Harness) -> None:
    messages = (ChatMessage("system", "Answer briefly."), ChatMessage("user", "Count: 1, 2, 3,"))
    request = GenerationRequest(
        harness.model, messages=messages, options=SamplingOptions(temperature=0, max_tokens=6)
    )
    events = [event async for event in harness.backend.generate(request)]
    assert text_of(events)
    assert finish_of(events).usage.completion_tokens > 0


async def test_max_tokens_caps_the_answer_and_says_length(harness: Harness) -> None:
    events = await run(harness, temperature=0, max_tokens=3)
    finish = finish_of(events)
    assert finish.reason == "length"
    assert finish.usage.completion_tokens == 3


async def test_stop_sequence_ends_the_answer_before_it(harness: Harness) -> None:
    full = text_of(await run(harness, temperature=0, max_tokens=12))
    stop = full.split()[2]
    expected = full[: full.index(stop)]

    events = await run(harness, temperature=0, max_tokens=12, stop=(stop,))
    assert text_of(events) == expected
    assert finish_of(events).reason == "stop"


async def test_seed_repeats_hot_sampling_and_seeds_differ(harness: Harness) -> None:
    async def sample(seed: int) -> str:
        return text_of(await run(harness, temperature=1.5, top_p=0.95, seed=seed, max_tokens=8))

    first = await sample(11)
    assert await sample(11) == first
    assert len({first, await sample(1), await sample(2)}) > 1


async def test_top_k_of_one_is_greedy(harness: Harness) -> None:
    greedy = text_of(await run(harness, temperature=0, max_tokens=8))
    assert text_of(await run(harness, temperature=1.5, top_k=1, seed=3, max_tokens=8)) == greedy


async def test_embeddings_one_vector_per_input(harness: Harness) -> None:
    texts = ["the cat sat on the mat", "stock prices fell sharply", "a third text"]
    result = await harness.backend.embed(harness.embedding_model, texts)

    assert len(result.vectors) == 3
    assert len({len(vector) for vector in result.vectors}) == 1 and len(result.vectors[0]) > 1
    assert result.vectors[0] != pytest.approx(result.vectors[1])
    if harness.reports_embedding_tokens:
        assert result.prompt_tokens > 0


async def test_a_texts_embedding_does_not_depend_on_its_batch(harness: Harness) -> None:
    # Found by this suite: llama.cpp with two slots embedded the first text of a multi-text
    # request differently from the same text alone (by up to 0.15 for Gemma 3 270M). The
    # embedded backend's embedding engine and the test llama.cpp server now take one input
    # per forward pass (liftoff.api.backends.llamacpp_embeddings, tests/llama_server.py).
    text = "the cat sat on the mat"
    batch = await harness.backend.embed(harness.embedding_model, [text, "stock prices", text])
    [alone] = (await harness.backend.embed(harness.embedding_model, [text])).vectors

    assert batch.vectors[0] == pytest.approx(alone, abs=1e-4)
    assert batch.vectors[2] == pytest.approx(alone, abs=1e-4)


async def test_unknown_model_is_refused_before_any_text(harness: Harness) -> None:
    with pytest.raises(ModelNotFound):
        await run(harness, model="no-such-model")
    with pytest.raises(ModelNotFound):
        await harness.backend.embed("no-such-model", ["hello"])


async def test_unreachable_upstream_is_unavailable(harness: Harness) -> None:
    backend = harness.unreachable()
    try:
        with pytest.raises(BackendUnavailable):
            await backend.check_ready()
        with pytest.raises(BackendUnavailable):
            await anext(backend.generate(GenerationRequest(harness.model, prompt=PROMPT)))
    finally:
        await backend.close()
