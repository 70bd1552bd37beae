"""The generation core with a scripted backend: idle timeouts that count only the backend's
silence, limits checked before anything is sent, usage reported on the stream and charged
to the caller, and the generation slot given back however a stream ends."""

from __future__ import annotations

import asyncio

import pytest

from liftoff.api.backends.base import (
    Finish,
    GenerationRequest,
    SamplingOptions,
    TextDelta,
    Usage,
)
from liftoff.api.errors import (
    AboveLimit,
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    InvalidRequest,
    RateLimited,
)
from liftoff.api.generation import GenerationStream, Generator, Limits
from liftoff.api.limits import ConcurrencyLimiter, RateLimiter
from liftoff.server.context import RequestInfo
from tests.api.scripted_backend import ScriptedBackend

REQUEST = GenerationRequest(model="m", prompt="p")


def caller(key_id: str = "key-1") -> RequestInfo:
    return RequestInfo(key_id=key_id)


async def _collect(events: GenerationStream, slow_consumer: float = 0) -> list[str]:
    texts = []
    async for event in events:
        if isinstance(event, TextDelta):
            texts.append(event.text)
            await asyncio.sleep(slow_consumer)
    return texts


async def test_backend_silent_mid_stream_ends_it_with_a_timeout_and_closes_it() -> None:
    backend = ScriptedBackend([0, 0, 0.5])
    generator = Generator(backend, Limits(timeout=0.1))
    events = await generator.start(REQUEST, caller())
    received: list[str] = []
    with pytest.raises(BackendTimeout, match=r"sent nothing for 0\.1 s"):
        async for event in events:
            if isinstance(event, TextDelta):
                received.append(event.text)
    assert received == ["t0", "t1"]
    assert backend.closed


async def test_a_slow_client_is_not_the_backends_timeout() -> None:
    backend = ScriptedBackend([0.01] * 4)
    generator = Generator(backend, Limits(timeout=0.1))
    events = await generator.start(REQUEST, caller())
    # The consumer takes 0.15 s per token, longer than the timeout; the backend never does.
    assert await _collect(events, slow_consumer=0.15) == ["t0", "t1", "t2", "t3"]


async def test_steady_tokens_never_time_out_however_long_the_answer() -> None:
    backend = ScriptedBackend([0.03] * 12)  # 0.36 s in all, each gap under the timeout
    generator = Generator(backend, Limits(timeout=0.1))
    events = await generator.start(REQUEST, caller())
    assert len(await _collect(events)) == 12


async def test_silence_before_the_first_token_fails_before_any_byte() -> None:
    generator = Generator(ScriptedBackend([0.5]), Limits(timeout=0.05))
    with pytest.raises(BackendTimeout):
        await generator.start(REQUEST, caller())


async def test_a_cancelled_client_is_cancellation_not_a_timeout() -> None:
    backend = ScriptedBackend([0, 5])
    generator = Generator(backend, Limits(timeout=10))
    events = await generator.start(REQUEST, caller())
    task = asyncio.create_task(_collect(events))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert backend.closed


@pytest.mark.parametrize(
    ("request_", "error", "param", "message"),
    [
        (GenerationRequest(model="m", prompt="x" * 11), InvalidRequest, "prompt",
         "limit of 10 characters"),
        (GenerationRequest(model="../m", prompt="p"), InvalidRequest, "model",
         "model name '../m' is not valid"),
        (GenerationRequest(model="m", prompt="p", options=SamplingOptions(max_tokens=21)),
         AboveLimit, "options.max_tokens",
         r"^options\.max_tokens is 21, above this gateway's limit of 20 \(LIFTOFF_MAX_TOKENS"),
    ],
)  # fmt: skip
async def test_limits_are_checked_before_the_backend_is_called(
    request_: GenerationRequest, error: type[InvalidRequest], param: str, message: str
) -> None:
    backend = ScriptedBackend([0])
    generator = Generator(backend, Limits(max_prompt_chars=10, max_tokens=20))
    with pytest.raises(error, match=message) as caught:
        await generator.start(request_, caller())
    assert caught.value.param == param  # the request's own name; surfaces rename it
    assert not backend.started


async def test_usage_is_reported_on_the_stream_recorded_on_the_caller_and_charged_to_it() -> None:
    limiter = RateLimiter(requests_per_minute=None, tokens_per_minute=4)
    generator = Generator(ScriptedBackend([0] * 5), Limits(), rate_limiter=limiter)
    alice, bob = caller("key-alice"), caller("key-bob")
    stream = await generator.start(REQUEST, alice)
    assert stream.usage is None
    await _collect(stream)
    assert stream.usage == Usage(prompt_tokens=1, completion_tokens=5)
    assert (alice.prompt_tokens, alice.completion_tokens) == (1, 5)
    assert (bob.prompt_tokens, bob.completion_tokens) == (0, 0)
    with pytest.raises(RateLimited, match="4 tokens per minute"):
        await generator.start(REQUEST, alice)  # 6 tokens used of 4 a minute
    await (await generator.start(REQUEST, bob)).collect()  # another key, its own budget


async def test_collect_returns_the_whole_generation() -> None:
    generator = Generator(ScriptedBackend([0, 0, 0]), Limits())
    completion = await (await generator.start(REQUEST, caller())).collect()
    assert (completion.text, completion.reason) == ("t0t1t2", "stop")
    assert completion.usage == Usage(1, 3)


async def test_the_slot_is_given_back_as_the_finish_arrives() -> None:
    slots = ConcurrencyLimiter(1, queue=0, queue_timeout=1)
    backend = ScriptedBackend([0, 0])
    generator = Generator(backend, Limits(), concurrency=slots)
    stream = await generator.start(REQUEST, caller())
    assert slots.active == 1
    assert [await anext(stream), await anext(stream)] == [TextDelta("t0"), TextDelta("t1")]
    assert isinstance(await anext(stream), Finish)
    # Before the consumer has even asked for the end: the next request gets the slot.
    assert slots.active == 0 and backend.closed
    await (await generator.start(REQUEST, caller())).collect()


@pytest.mark.parametrize(
    ("backend", "error", "message"),
    [
        (ScriptedBackend([0, 0], finish=False), BackendError,
         "the scripted backend ended without finishing"),
        (ScriptedBackend([0, 0], fail=BackendUnavailable("gone")), BackendUnavailable, "gone"),
        (ScriptedBackend([0, 0.5]), BackendTimeout, "sent nothing for 0.1 s"),
    ],
)  # fmt: skip
async def test_a_stream_that_fails_midway_raises_and_gives_the_slot_back(
    backend: ScriptedBackend, error: type[Exception], message: str
) -> None:
    slots = ConcurrencyLimiter(1, queue=0, queue_timeout=1)
    generator = Generator(backend, Limits(timeout=0.1), concurrency=slots)
    stream = await generator.start(REQUEST, caller())
    with pytest.raises(error, match=message):
        await _collect(stream)
    assert slots.active == 0 and backend.closed
    assert [event async for event in stream] == []  # ended for good


async def test_a_failure_before_the_first_event_gives_the_slot_back() -> None:
    slots = ConcurrencyLimiter(1, queue=0, queue_timeout=1)
    backend = ScriptedBackend([], fail=BackendUnavailable("down"))
    generator = Generator(backend, Limits(), concurrency=slots)
    with pytest.raises(BackendUnavailable, match="down"):
        await generator.start(REQUEST, caller())
    assert slots.active == 0 and backend.closed


async def test_closing_a_stream_midway_stops_the_backend_and_gives_the_slot_back() -> None:
    slots = ConcurrencyLimiter(1, queue=0, queue_timeout=1)
    backend = ScriptedBackend([0, 0, 0])
    generator = Generator(backend, Limits(), concurrency=slots)
    stream = await generator.start(REQUEST, caller())
    assert await anext(stream) == TextDelta("t0")
    await stream.aclose()
    await stream.aclose()  # idempotent
    assert slots.active == 0 and backend.closed
    assert stream.usage is None


async def test_streams_past_the_shutdown_grace_period_end_with_an_error() -> None:
    stop = False
    generator = Generator(ScriptedBackend([0] * 4), Limits(), must_stop=lambda: stop)
    stream = await generator.start(REQUEST, caller())
    assert await anext(stream) == TextDelta("t0")
    stop = True
    with pytest.raises(BackendUnavailable, match="grace period is over"):
        await anext(stream)
