"""The generator's own rules, with a scripted backend: idle timeouts that count only the
backend's silence, and limits checked before anything is sent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from liftoff.api.backends.base import (
    Backend,
    Embeddings,
    Finish,
    GenerationEvent,
    GenerationRequest,
    ModelInfo,
    TextDelta,
    Usage,
)
from liftoff.api.errors import BackendTimeout, InvalidRequest
from liftoff.api.generation import Generator, Limits


class ScriptedBackend(Backend):
    """Yields ``pauses``-separated tokens: ``pauses[i]`` seconds before token ``i``."""

    name = "scripted"

    def __init__(self, pauses: list[float]) -> None:
        self.pauses = pauses
        self.closed = False

    async def check_ready(self) -> None:
        return None

    async def list_models(self) -> list[ModelInfo]:
        return [ModelInfo("m")]

    async def generate(self, request: GenerationRequest) -> AsyncIterator[GenerationEvent]:
        try:
            for index, pause in enumerate(self.pauses):
                await asyncio.sleep(pause)
                yield TextDelta(f"t{index}")
            yield Finish("stop", Usage(1, len(self.pauses)))
        finally:
            self.closed = True

    async def embed(self, model: str, inputs: list[str]) -> Embeddings:
        return Embeddings([[0.0] for _ in inputs], 0)


REQUEST = GenerationRequest(model="m", prompt="p")


async def _collect(events: AsyncIterator[GenerationEvent], slow_consumer: float = 0) -> list[str]:
    texts = []
    async for event in events:
        if isinstance(event, TextDelta):
            texts.append(event.text)
            await asyncio.sleep(slow_consumer)
    return texts


async def test_backend_silent_mid_stream_ends_it_with_a_timeout_and_closes_it() -> None:
    backend = ScriptedBackend([0, 0, 0.5])
    generator = Generator(backend, Limits(timeout=0.1))
    events = await generator.stream(REQUEST, max_tokens_field="max_tokens")
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
    events = await generator.stream(REQUEST, max_tokens_field="max_tokens")
    # The consumer takes 0.15 s per token, longer than the timeout; the backend never does.
    assert await _collect(events, slow_consumer=0.15) == ["t0", "t1", "t2", "t3"]


async def test_steady_tokens_never_time_out_however_long_the_answer() -> None:
    backend = ScriptedBackend([0.03] * 12)  # 0.36 s in all, each gap under the timeout
    generator = Generator(backend, Limits(timeout=0.1))
    events = await generator.stream(REQUEST, max_tokens_field="max_tokens")
    assert len(await _collect(events)) == 12


async def test_silence_before_the_first_token_fails_before_any_byte() -> None:
    generator = Generator(ScriptedBackend([0.5]), Limits(timeout=0.05))
    with pytest.raises(BackendTimeout):
        await generator.stream(REQUEST, max_tokens_field="max_tokens")


async def test_a_cancelled_client_is_cancellation_not_a_timeout() -> None:
    backend = ScriptedBackend([0, 5])
    generator = Generator(backend, Limits(timeout=10))
    events = await generator.stream(REQUEST, max_tokens_field="max_tokens")
    task = asyncio.create_task(_collect(events))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert backend.closed


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (GenerationRequest(model="m", prompt="x" * 11), "limit of 10 characters"),
        (GenerationRequest(model="../m", prompt="p"), "model name '../m' is not valid"),
    ],
)
async def test_limits_are_checked_before_the_backend_is_called(
    request_: GenerationRequest, message: str
) -> None:
    backend = ScriptedBackend([0])
    generator = Generator(backend, Limits(max_prompt_chars=10))
    with pytest.raises(InvalidRequest, match=message):
        await generator.stream(request_, max_tokens_field="max_tokens")
    assert not backend.closed  # never started
