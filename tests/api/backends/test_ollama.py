"""The Ollama backend against a fake Ollama server speaking Ollama's HTTP API."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from liftoff.api.backends.base import (
    ChatMessage,
    Completion,
    Finish,
    GenerationEvent,
    GenerationRequest,
    ModelInfo,
    SamplingOptions,
    TextDelta,
    Usage,
)
from liftoff.api.backends.base import collect as collect_completion
from liftoff.api.backends.ollama import OllamaBackend
from liftoff.api.errors import (
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    ContextLengthExceeded,
    InvalidRequest,
    ModelNotFound,
)
from tests.fakes.ollama_server import DEFAULT_MODEL, EMBEDDING_MODEL, FakeModel, FakeOllama

MakeBackend = Callable[..., OllamaBackend]
# Retries fast enough for tests; timeouts long enough for a loaded build machine.
FAST = {
    "retry_initial_seconds": 0.02,
    "retry_max_seconds": 0.1,
    "connect_timeout": 2.0,
    "timeout": 5.0,
}


@pytest.fixture
async def make_backend(fake_ollama_down: FakeOllama) -> AsyncIterator[MakeBackend]:
    made: list[OllamaBackend] = []

    def make(**kwargs: Any) -> OllamaBackend:
        backend = OllamaBackend(fake_ollama_down.url, DEFAULT_MODEL, **{**FAST, **kwargs})
        made.append(backend)
        return backend

    yield make
    for backend in made:
        await backend.close()


@pytest.fixture
def backend(fake_ollama: FakeOllama, make_backend: MakeBackend) -> OllamaBackend:
    return make_backend()


def chat(*contents: str, options: SamplingOptions | None = None) -> GenerationRequest:
    messages = tuple(ChatMessage("user", content) for content in contents)
    return GenerationRequest(DEFAULT_MODEL, messages=messages, options=options or SamplingOptions())


def prompt(text: str, **options: Any) -> GenerationRequest:
    return GenerationRequest(DEFAULT_MODEL, prompt=text, options=SamplingOptions(**options))


async def collect(stream: AsyncIterator[GenerationEvent]) -> list[GenerationEvent]:
    return [event async for event in stream]


async def complete(backend: OllamaBackend, request: GenerationRequest) -> Completion:
    return await collect_completion(backend.generate(request))


async def wait_ready(backend: OllamaBackend, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            await backend.check_ready()
            return
        except BackendUnavailable:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.02)


async def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


# Start-up: pull, warm-up, readiness ---------------------------------------------------


async def test_start_pulls_missing_model_and_logs_progress(
    fake_ollama: FakeOllama, make_backend: MakeBackend, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="liftoff.api.backends.ollama")
    del fake_ollama.models[DEFAULT_MODEL]
    backend = make_backend()

    await backend.start()
    await wait_ready(backend)

    assert DEFAULT_MODEL in fake_ollama.models
    [pull] = fake_ollama.bodies("/api/pull")
    assert pull["model"] == DEFAULT_MODEL
    assert pull["stream"] is True
    lines = [record.getMessage() for record in caplog.records]
    layer = f"pulling {FakeModel(DEFAULT_MODEL).digest[:12]}"
    progress = [line for line in lines if layer in line]
    # 51 progress lines for the layer, logged once per 5%: 0%, 5%, ..., 100%.
    assert len(progress) == 21
    assert progress[0] == f"pulling {DEFAULT_MODEL}: {layer} 0% (0.00 GiB of 4.58 GiB)"
    assert progress[-1] == f"pulling {DEFAULT_MODEL}: {layer} 100% (4.58 GiB of 4.58 GiB)"
    for status in ("pulling manifest", "verifying sha256 digest", "writing manifest", "success"):
        assert f"pulling {DEFAULT_MODEL}: {status}" in lines


async def test_failed_pull_logs_the_model_and_ollamas_message(
    fake_ollama: FakeOllama, make_backend: MakeBackend, caplog: pytest.LogCaptureFixture
) -> None:
    del fake_ollama.models[DEFAULT_MODEL]
    del fake_ollama.library[DEFAULT_MODEL]
    backend = make_backend()

    await backend.start()
    await wait_until(lambda: any(r.levelno == logging.ERROR for r in caplog.records))

    error = next(r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)
    assert DEFAULT_MODEL in error
    assert "pull model manifest: file does not exist" in error
    with pytest.raises(BackendUnavailable, match="file does not exist"):
        await backend.check_ready()


async def test_start_pulls_the_embedding_model_too(
    fake_ollama: FakeOllama, make_backend: MakeBackend
) -> None:
    del fake_ollama.models[DEFAULT_MODEL]
    del fake_ollama.models[EMBEDDING_MODEL]
    backend = make_backend(embedding_model="all-minilm")  # the tag's default, latest

    await backend.start()
    await wait_ready(backend)

    assert [pull["model"] for pull in fake_ollama.bodies("/api/pull")] == [
        DEFAULT_MODEL,
        "all-minilm",
    ]
    assert EMBEDDING_MODEL in fake_ollama.models


async def test_not_ready_while_the_embedding_model_is_missing(
    fake_ollama: FakeOllama, make_backend: MakeBackend
) -> None:
    del fake_ollama.models[EMBEDDING_MODEL]
    backend = make_backend(embedding_model=EMBEDDING_MODEL, pull_if_missing=False)

    await backend.start()
    await asyncio.sleep(0.2)

    with pytest.raises(BackendUnavailable, match=f"ollama pull {EMBEDDING_MODEL}"):
        await backend.check_ready()


async def test_missing_model_is_not_pulled_when_pulling_is_off(
    fake_ollama: FakeOllama, make_backend: MakeBackend
) -> None:
    del fake_ollama.models[DEFAULT_MODEL]
    backend = make_backend(pull_if_missing=False)

    await backend.start()
    await asyncio.sleep(0.2)

    with pytest.raises(BackendUnavailable, match=f"ollama pull {DEFAULT_MODEL}"):
        await backend.check_ready()
    assert fake_ollama.bodies("/api/pull") == []


async def test_start_loads_the_model_with_keep_alive_and_num_ctx(
    fake_ollama: FakeOllama, make_backend: MakeBackend
) -> None:
    backend = make_backend(keep_alive="10m", num_ctx=8192)

    await backend.start()
    await wait_ready(backend)

    [warm_up] = fake_ollama.bodies("/api/generate")
    assert warm_up["prompt"] == ""
    assert warm_up["keep_alive"] == "10m"
    assert warm_up["options"] == {"num_ctx": 8192}
    assert fake_ollama.loaded[DEFAULT_MODEL] == 8192


async def test_unreachable_ollama_is_unavailable_not_crash(make_backend: MakeBackend) -> None:
    backend = make_backend()

    began = time.monotonic()
    await backend.start()
    assert time.monotonic() - began < 0.5

    with pytest.raises(BackendUnavailable, match="cannot reach Ollama"):
        await backend.check_ready()
    with pytest.raises(BackendUnavailable, match="cannot reach Ollama"):
        await collect(backend.generate(chat("hello")))
    with pytest.raises(BackendUnavailable):
        await backend.list_models()
    with pytest.raises(BackendUnavailable):
        await backend.embed(EMBEDDING_MODEL, ["hello"])


async def test_readiness_recovers_when_ollama_comes_back(
    fake_ollama_down: FakeOllama, make_backend: MakeBackend
) -> None:
    backend = make_backend()
    await backend.start()
    await asyncio.sleep(0.2)  # a few failed attempts
    with pytest.raises(BackendUnavailable):
        await backend.check_ready()

    await asyncio.to_thread(fake_ollama_down.start)
    await wait_ready(backend)

    # Ollama restarts: not ready while it is gone, ready again once it is back.
    await asyncio.to_thread(fake_ollama_down.stop)
    with pytest.raises(BackendUnavailable, match="cannot reach Ollama"):
        await backend.check_ready()
    await asyncio.to_thread(fake_ollama_down.start)
    await wait_ready(backend)


async def test_model_deleted_after_start_is_prepared_again(
    fake_ollama: FakeOllama, make_backend: MakeBackend
) -> None:
    backend = make_backend()
    await backend.start()
    await wait_ready(backend)

    del fake_ollama.models[DEFAULT_MODEL]
    with pytest.raises(BackendUnavailable, match="not in Ollama"):
        await backend.check_ready()
    await wait_ready(backend)

    assert len(fake_ollama.bodies("/api/pull")) == 1


async def test_close_stops_preparation(
    fake_ollama_down: FakeOllama, make_backend: MakeBackend
) -> None:
    backend = make_backend()
    await backend.start()
    await asyncio.sleep(0.1)

    await backend.close()
    await asyncio.to_thread(fake_ollama_down.start)
    await asyncio.sleep(0.3)

    assert fake_ollama_down.requests == []


# Generation ---------------------------------------------------------------------------


async def test_chat_streams_text_then_finish_with_usage(
    fake_ollama: FakeOllama, backend: OllamaBackend
) -> None:
    events = await collect(backend.generate(chat("ignored words", "one two three")))

    assert events == [
        TextDelta("three"),
        TextDelta(" two"),
        TextDelta(" one"),
        TextDelta(" three"),
        TextDelta(" two"),
        TextDelta(" one"),
        Finish(
            "stop",
            Usage(5, 6, prompt_duration_ns=325_953_000, generation_duration_ns=4_709_213_000),
        ),
    ]
    [body] = fake_ollama.bodies("/api/chat")
    assert body == {
        "model": DEFAULT_MODEL,
        "messages": [
            {"role": "user", "content": "ignored words"},
            {"role": "user", "content": "one two three"},
        ],
        "stream": True,
        "truncate": False,
        "shift": False,
        "keep_alive": "5m",
    }


async def test_prompt_request_is_a_raw_completion(
    fake_ollama: FakeOllama, backend: OllamaBackend
) -> None:
    completion = await complete(backend, prompt("<start_of_turn>user hi"))

    assert completion.text == "hi <start_of_turn>user hi <start_of_turn>user hi <start_of_turn>user"
    [body] = fake_ollama.bodies("/api/generate")
    assert body["prompt"] == "<start_of_turn>user hi"
    assert body["raw"] is True
    assert body["stream"] is True


async def test_sampling_options_reach_ollama(
    fake_ollama: FakeOllama, make_backend: MakeBackend
) -> None:
    backend = make_backend(num_ctx=2048)
    options = {"temperature": 0.2, "top_p": 0.9, "top_k": 40, "seed": 7}

    request = prompt("a b c d e", max_tokens=3, stop=("END",), **options)
    completion = await complete(backend, request)

    assert fake_ollama.bodies("/api/generate")[-1]["options"] == {
        **options,
        "num_predict": 3,
        "stop": ["END"],
        "num_ctx": 2048,
    }
    assert completion.reason == "length"
    assert completion.usage.completion_tokens == 3


async def test_sampling_options_take_effect(backend: OllamaBackend) -> None:
    async def text(**options: Any) -> str:
        return (await complete(backend, prompt("a b c d e", **options))).text

    assert await text(max_tokens=2) == "e d"
    assert await text(stop=(" c",)) == "e d"
    assert await text(seed=1) == await text(seed=1) == "d c b a e d"
    assert await text(seed=2) != await text(seed=1)


async def test_stream_error_mid_stream_raises_backend_error(
    fake_ollama: FakeOllama, backend: OllamaBackend
) -> None:
    fake_ollama.fail_after_tokens = 2
    received: list[GenerationEvent] = []

    with pytest.raises(
        BackendError, match="mid-stream: an error was encountered while running"
    ) as raised:
        async for event in backend.generate(chat("one two three")):
            received.append(event)

    assert type(raised.value) is BackendError
    assert received == [TextDelta("three"), TextDelta(" two")]


async def test_closing_stream_early_closes_upstream_request(
    fake_ollama: FakeOllama, backend: OllamaBackend
) -> None:
    fake_ollama.reply_tokens = 500
    fake_ollama.token_delay = 0.01
    stream = backend.generate(chat("one two three"))

    assert await anext(stream) == TextDelta("three")
    await stream.aclose()

    await wait_until(lambda: fake_ollama.streams_cancelled == 1)
    assert fake_ollama.streams_finished == 0


async def test_cancelled_request_closes_upstream_request(
    fake_ollama: FakeOllama, backend: OllamaBackend
) -> None:
    fake_ollama.reply_tokens = 500
    fake_ollama.token_delay = 0.01
    started = asyncio.Event()

    async def consume() -> None:
        async for _ in backend.generate(chat("one two three")):
            started.set()

    task = asyncio.create_task(consume())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    await wait_until(lambda: fake_ollama.streams_cancelled == 1)
    assert fake_ollama.streams_finished == 0


async def test_unknown_model_is_model_not_found(backend: OllamaBackend) -> None:
    await backend.start()
    await wait_ready(backend)

    with pytest.raises(ModelNotFound, match=DEFAULT_MODEL) as raised:
        await collect(backend.generate(GenerationRequest("no-such-model", prompt="hi")))
    assert raised.value.model == "no-such-model"
    with pytest.raises(ModelNotFound):
        await backend.embed("no-such-model", ["hi"])


async def test_slow_ollama_times_out(fake_ollama: FakeOllama, make_backend: MakeBackend) -> None:
    backend = make_backend(timeout=0.2)

    fake_ollama.token_delay = 2.0
    with pytest.raises(BackendTimeout):
        await complete(backend, chat("one two three"))

    fake_ollama.token_delay = 0.0
    fake_ollama.hang = True
    with pytest.raises(BackendTimeout):
        await complete(backend, chat("one two three"))


@pytest.mark.parametrize(
    ("status", "message", "error"),
    [
        (500, "model requires more system memory (9.0 GiB) than is available", BackendError),
        (400, "invalid options: num_gqa", InvalidRequest),
        (
            503,
            "server busy, please try again.  maximum pending requests exceeded",
            BackendUnavailable,
        ),
    ],
)
async def test_ollama_error_answers_are_translated(
    fake_ollama: FakeOllama, backend: OllamaBackend, status: int, message: str, error: type
) -> None:
    fake_ollama.http_errors["/api/chat"] = (status, message)

    with pytest.raises(error, match=message[:20]) as raised:
        await collect(backend.generate(chat("hello")))

    assert type(raised.value) is error


# Context window -----------------------------------------------------------------------


async def test_over_long_prompt_is_context_length_exceeded_before_any_text(
    make_backend: MakeBackend, fake_ollama: FakeOllama
) -> None:
    backend = make_backend(num_ctx=8)
    received: list[GenerationEvent] = []

    with pytest.raises(ContextLengthExceeded, match="longer than the model's context window"):
        async for event in backend.generate(chat("word " * 20)):
            received.append(event)

    assert received == []
    assert fake_ollama.streams_started == 0


async def test_silent_truncation_by_older_ollama_is_detected(
    make_backend: MakeBackend, fake_ollama: FakeOllama
) -> None:
    fake_ollama.honours_truncate = False  # Ollama before 0.12.6 ignores "truncate"
    backend = make_backend(num_ctx=8)

    assert (await complete(backend, prompt("a b c d e"))).usage.prompt_tokens == 5
    with pytest.raises(ContextLengthExceeded, match="longer than the model's context window of 8"):
        await complete(backend, prompt("word " * 20))


@pytest.mark.parametrize("from_ps", [True, False], ids=["api-ps", "modelfile-num-ctx"])
async def test_context_window_is_learned_from_ollama_when_not_configured(
    make_backend: MakeBackend, fake_ollama: FakeOllama, from_ps: bool
) -> None:
    fake_ollama.honours_truncate = False
    fake_ollama.reports_context_length = from_ps
    fake_ollama.models[DEFAULT_MODEL].num_ctx = 16
    backend = make_backend()
    await backend.start()
    await wait_ready(backend)

    with pytest.raises(ContextLengthExceeded, match="context window of 16 tokens"):
        await complete(backend, chat("word " * 30))


# Embeddings and listing ---------------------------------------------------------------


async def test_embed_returns_one_vector_per_input(
    fake_ollama: FakeOllama, backend: OllamaBackend
) -> None:
    result = await backend.embed(EMBEDDING_MODEL, ["hello world", "good bye now"])

    assert len(result.vectors) == 2
    assert all(len(vector) == 8 for vector in result.vectors)
    assert result.vectors[0] != result.vectors[1]
    assert result.prompt_tokens == 5
    [body] = fake_ollama.bodies("/api/embed")
    assert body["input"] == ["hello world", "good bye now"]
    assert body["truncate"] is False


async def test_embed_asks_ollama_to_truncate_when_the_caller_does(
    fake_ollama: FakeOllama, backend: OllamaBackend
) -> None:
    fake_ollama.default_num_ctx = 4

    result = await backend.embed(EMBEDDING_MODEL, ["one two three four five six"], truncate=True)

    assert result.prompt_tokens == 4
    [body] = fake_ollama.bodies("/api/embed")
    assert body["truncate"] is True


async def test_over_long_embedding_input_is_context_length_exceeded(
    fake_ollama: FakeOllama, backend: OllamaBackend
) -> None:
    fake_ollama.default_num_ctx = 4

    with pytest.raises(ContextLengthExceeded):
        await backend.embed(EMBEDDING_MODEL, ["one two three four five six"])


async def test_list_models_says_what_the_configured_models_are_for(
    fake_ollama: FakeOllama, make_backend: MakeBackend
) -> None:
    fake_ollama.add_model(FakeModel("qwen3:0.6b"))
    backend = make_backend(embedding_model="all-minilm")

    listed = {model.id: model.capabilities for model in await backend.list_models()}

    assert listed == {
        DEFAULT_MODEL: ("completion",),
        EMBEDDING_MODEL: ("embedding",),
        "qwen3:0.6b": (),  # not one the gateway was told about: unknown
    }


async def test_list_models_reports_ollamas_tags(backend: OllamaBackend) -> None:
    models = {model.id: model for model in await backend.list_models()}

    assert set(models) == {DEFAULT_MODEL, EMBEDDING_MODEL}
    assert models[DEFAULT_MODEL] == ModelInfo(
        id=DEFAULT_MODEL,
        size_bytes=4_920_753_328,
        family="llama",
        quantization="Q4_K_M",
        modified_at="2026-01-02T03:04:05.123456+00:00",
        digest=FakeModel(DEFAULT_MODEL).digest,
        capabilities=("completion",),
    )
