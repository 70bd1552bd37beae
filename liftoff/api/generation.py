"""What every protocol surface does with a generation, whatever its wire shape.

- checks the limits that do not depend on the protocol (max tokens, prompt length);
- applies the key's rate limits and waits for a generation slot (bounded queue);
- bounds each wait on the backend by the configured timeout (a slow backend is a 504,
  not a hung client);
- starts a stream before the first byte is sent, so errors known up front (unknown model,
  prompt too long, backend down) become proper HTTP errors instead of in-stream ones;
- measures time to first token, tokens and tokens per second, and ends streams that
  outlive the shutdown grace period.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

from liftoff.api.backends.base import (
    Backend,
    Completion,
    Embeddings,
    Finish,
    GenerationEvent,
    GenerationRequest,
    TextDelta,
)
from liftoff.api.errors import (
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    InvalidRequest,
    Overloaded,
    RateLimited,
    ServiceError,
)
from liftoff.api.limits import ConcurrencyLimiter, RateLimiter
from liftoff.api.metrics import GatewayMetrics
from liftoff.server.context import RequestInfo, logged_request


@dataclass(frozen=True)
class Limits:
    timeout: float = 300.0  # seconds to wait for the backend's next piece of output
    max_tokens: int = 16384
    max_prompt_chars: int = 1_000_000


class Generator:
    """Runs generations on a backend with the gateway's limits, timeouts and metrics.

    >>> generator = Generator(backend, Limits(timeout=30))
    >>> events = await generator.stream(request, max_tokens_field="max_tokens")
    >>> async for event in events: ...
    """

    def __init__(
        self,
        backend: Backend,
        limits: Limits,
        *,
        rate_limiter: RateLimiter | None = None,
        concurrency: ConcurrencyLimiter | None = None,
        metrics: GatewayMetrics | None = None,
        must_stop: Callable[[], bool] = lambda: False,
    ) -> None:
        self.backend = backend
        self.limits = limits
        self.rate_limiter = rate_limiter
        self.concurrency = concurrency
        self.metrics = metrics
        self._must_stop = must_stop

    async def stream(
        self, request: GenerationRequest, *, max_tokens_field: str
    ) -> AsyncIterator[GenerationEvent]:
        """Start a generation; raises ``ServiceError`` if it fails before its first event."""
        self._check_limits(request, max_tokens_field)
        cleanup = await self._admit()
        try:
            events = self._supervised(_as_generator(self.backend.generate(request)))
            cleanup.push_async_callback(events.aclose)
            first = await anext(events)
        except StopAsyncIteration:
            await cleanup.aclose()
            raise BackendError(f"the {self.backend.name} backend produced nothing") from None
        except BaseException:
            await cleanup.aclose()
            raise
        return _then_close(first, events, cleanup)

    async def complete(self, request: GenerationRequest, *, max_tokens_field: str) -> Completion:
        events = await self.stream(request, max_tokens_field=max_tokens_field)
        parts: list[str] = []
        async for event in events:
            if isinstance(event, TextDelta):
                parts.append(event.text)
            else:
                return Completion("".join(parts), event.reason, event.usage)
        raise BackendError(f"the {self.backend.name} backend ended without finishing")

    async def embed(self, model: str, inputs: list[str]) -> Embeddings:
        check_model_name(model)
        too_long = next((i for i, text in enumerate(inputs) if len(text) > self._max_chars), None)
        if too_long is not None:
            raise InvalidRequest(self._too_long_message(), param=f"input.{too_long}")
        async with await self._admit():
            try:
                async with asyncio.timeout(self.limits.timeout):
                    result = await self.backend.embed(model, inputs)
            except TimeoutError:
                raise self._timeout_error() from None
            except ServiceError as exc:
                self._count_backend_error(exc)
                raise
        self._record_tokens(result.prompt_tokens, 0)
        return result

    @property
    def _max_chars(self) -> int:
        return self.limits.max_prompt_chars

    def _check_limits(self, request: GenerationRequest, max_tokens_field: str) -> None:
        check_model_name(request.model)
        max_tokens = request.options.max_tokens
        if max_tokens is not None and max_tokens > self.limits.max_tokens:
            raise InvalidRequest(
                f"{max_tokens_field} is {max_tokens}, above this gateway's limit of "
                f"{self.limits.max_tokens} (LIFTOFF_MAX_TOKENS_LIMIT)",
                param=max_tokens_field,
            )
        if request.prompt is not None:
            length = len(request.prompt)
        else:
            length = sum(len(message.content) for message in request.messages or ())
        if length > self._max_chars:
            raise InvalidRequest(
                self._too_long_message(), param="prompt" if request.prompt else "messages"
            )

    def _too_long_message(self) -> str:
        return (
            f"the input is longer than this gateway's limit of {self._max_chars} characters "
            "(LIFTOFF_MAX_PROMPT_CHARS)"
        )

    async def _admit(self) -> AsyncExitStack:
        """Rate limits, then a generation slot, held until the returned stack is closed."""
        admitted = AsyncExitStack()
        try:
            if self.rate_limiter is not None:
                self.rate_limiter.admit(_rate_key())
            if self.concurrency is not None:
                try:
                    await admitted.enter_async_context(self.concurrency.slot())
                except Overloaded:
                    # A request the gateway could not serve does not use up the key's rate.
                    if self.rate_limiter is not None:
                        self.rate_limiter.refund_request(_rate_key())
                    raise
        except (RateLimited, Overloaded) as exc:
            self._count_rejection(exc)
            raise
        return admitted

    async def _supervised(
        self, events: AsyncGenerator[GenerationEvent, None]
    ) -> AsyncGenerator[GenerationEvent, None]:
        """The backend's events, bounded by the idle timeout and the shutdown grace period,
        and measured (time to first token, tokens, tokens per second)."""
        watchdog = _Watchdog(self.limits.timeout)
        started = time.perf_counter()
        first_text_at: float | None = None
        try:
            while True:
                try:
                    with watchdog:
                        event = await anext(events)
                except StopAsyncIteration:
                    return
                if first_text_at is None and isinstance(event, TextDelta):
                    first_text_at = time.perf_counter()
                    if self.metrics is not None:
                        self.metrics.time_to_first_token.labels(self.backend.name).observe(
                            first_text_at - started
                        )
                elif isinstance(event, Finish):
                    self._record_finish(event, started, first_text_at)
                yield event
                if self._must_stop():
                    raise BackendUnavailable(
                        "the gateway is shutting down and its grace period is over; retry"
                    )
        except _IdleTimeout:
            error = self._timeout_error()
            self._count_backend_error(error)
            raise error from None
        except ServiceError as exc:
            self._count_backend_error(exc)
            raise
        finally:
            watchdog.close()
            # Closing the backend's stream is what cancels the upstream generation.
            await events.aclose()

    def _record_finish(self, finish: Finish, started: float, first_text_at: float | None) -> None:
        usage = finish.usage
        self._record_tokens(usage.prompt_tokens, usage.completion_tokens)
        if self.metrics is None or usage.completion_tokens == 0:
            return
        if usage.generation_duration_ns:
            seconds = usage.generation_duration_ns / 1e9
        else:
            seconds = time.perf_counter() - (first_text_at or started)
        if seconds > 0:
            rate = usage.completion_tokens / seconds
            self.metrics.tokens_per_second.labels(self.backend.name).observe(rate)

    def _record_tokens(self, prompt_tokens: int, completion_tokens: int) -> None:
        info = _caller()
        info.prompt_tokens += prompt_tokens
        info.completion_tokens += completion_tokens
        if self.rate_limiter is not None:
            self.rate_limiter.record_tokens(_rate_key(), prompt_tokens + completion_tokens)
        if self.metrics is not None:
            self.metrics.prompt_tokens.labels(info.key_id).inc(prompt_tokens)
            self.metrics.completion_tokens.labels(info.key_id).inc(completion_tokens)

    def _timeout_error(self) -> BackendTimeout:
        return BackendTimeout(
            f"the {self.backend.name} backend sent nothing for {self.limits.timeout:g} s "
            "(LIFTOFF_REQUEST_TIMEOUT)"
        )

    def _count_backend_error(self, exc: ServiceError) -> None:
        if self.metrics is not None and isinstance(exc, BackendError):
            self.metrics.backend_errors.labels(exc.error_type).inc()

    def _count_rejection(self, exc: ServiceError) -> None:
        if self.metrics is not None:
            self.metrics.rejections.labels(exc.error_type).inc()


class _IdleTimeout(Exception):
    """The backend sent nothing for the whole idle timeout."""


class _Watchdog:
    """An idle timeout for a stream, without a timer per token.

    ``with watchdog:`` marks a wait on the backend. One timer per stream checks, when it
    fires, whether the current wait has lasted the whole timeout; if so it cancels the
    waiting task and the wait raises ``_IdleTimeout``. Time the consumer spends writing to
    a slow client is not counted against the backend.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._loop = asyncio.get_running_loop()
        self._task: asyncio.Task[Any] | None = None
        self._since = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._fired = False

    def __enter__(self) -> None:
        self._task = asyncio.current_task()
        self._since = self._loop.time()
        if self._timer is None:
            self._timer = self._loop.call_at(self._since + self.timeout, self._check)

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        task, self._task = self._task, None
        if self._fired and kind is asyncio.CancelledError and task is not None:
            self._fired = False
            if task.uncancel() == 0:  # nobody else asked for cancellation too
                self._stop()
                raise _IdleTimeout
        if kind is not None:
            self._stop()

    def _check(self) -> None:
        self._timer = None
        if self._task is None:
            return  # not waiting on the backend now; the next wait re-arms
        deadline = self._since + self.timeout
        if self._loop.time() >= deadline:
            self._fired = True
            self._task.cancel()
        else:
            self._timer = self._loop.call_at(deadline, self._check)

    def close(self) -> None:
        self._stop()

    def _stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def _as_generator(
    events: AsyncIterator[GenerationEvent],
) -> AsyncGenerator[GenerationEvent, None]:
    """Backends are async generators; any other iterator is wrapped to gain ``aclose``."""
    if isinstance(events, AsyncGenerator):
        return events

    async def wrapped() -> AsyncGenerator[GenerationEvent, None]:
        async for event in events:
            yield event

    return wrapped()


def check_model_name(model: str) -> None:
    """Refuse names that could mean something else to a backend: paths that climb out
    (``../``, the CVE-2024-37032 pattern), backslashes, control characters, huge names."""
    suspicious = ".." in model or "\\" in model or any(ord(c) < 32 for c in model)
    if suspicious or len(model) > 256:
        raise InvalidRequest(f"model name {model[:64]!r} is not valid", param="model")


def _caller() -> RequestInfo:
    # TODO(issue 8): the caller becomes an explicit argument of the core.
    return logged_request.get() or RequestInfo()


def _rate_key() -> str:
    """Rate limits apply per key; without authentication, per client address."""
    return _caller().rate_key


async def _then_close(
    first: GenerationEvent,
    rest: AsyncGenerator[GenerationEvent, None],
    cleanup: AsyncExitStack,
) -> AsyncIterator[GenerationEvent]:
    try:
        yield first
        async for event in rest:
            yield event
    finally:
        # Closes the backend stream and gives the generation slot back.
        await cleanup.aclose()
