"""The generation core: what every protocol surface does with a generation, whatever its
wire shape. Its inputs are explicit (the request, and the caller it is made for); its output
is one stream object that carries the events and, at the end, the usage::

    generator = Generator(backend, Limits(timeout=30), rate_limiter=limiter)
    stream = await generator.start(request, caller)   # errors known up front raise here
    async for event in stream:                         # TextDelta..., then one Finish
        ...
    stream.usage                                       # set by the Finish

What the core does for every surface:

- checks the limits that do not depend on the protocol (max tokens, prompt length, stop
  strings, number of choices);
- runs several generations at once when a request asks for several choices (OpenAI's
  ``n``), merged into one stream (``liftoff.api.choices``);
- applies the caller's rate limits and waits for a generation slot (bounded queue);
- bounds each wait on the backend by the configured timeout (a slow backend is a 504,
  not a hung client);
- starts the stream before the first byte is sent, so errors known up front (unknown
  model, prompt too long, backend down) become proper HTTP errors instead of in-stream ones;
- measures time to first token, tokens and tokens per second, records the tokens on the
  caller's ``RequestInfo`` (the access log) and charges them to its rate limit, and ends
  streams that outlive the shutdown grace period;
- charges work a caller abandoned (its client left) for what it consumed: the prompt,
  estimated at ``CHARS_PER_TOKEN`` characters a token (a backend reports its count only at
  the end), and one token per piece of text generated; embeddings run in batches of
  ``EMBED_BATCH`` inputs, so one abandoned mid-way stops at the end of its batch and is
  charged for the batches embedded.

Errors name fields as ``GenerationRequest`` does (``options.max_tokens``); each surface
renames them to its own wire names (``liftoff.api.protocols.errors.FieldNames``).
"""

from __future__ import annotations

import asyncio
import math
import re
import time
import weakref
from collections.abc import AsyncIterator, Callable, Sequence
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
    ModelInfo,
    TextDelta,
    Usage,
    collect,
)
from liftoff.api.choices import several_choices
from liftoff.api.errors import (
    AboveLimit,
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    FieldError,
    InvalidRequest,
    Overloaded,
    RateLimited,
    ServiceError,
)
from liftoff.api.limits import ConcurrencyLimiter, RateLimits
from liftoff.api.metrics import GatewayMetrics
from liftoff.server.context import RequestInfo

# OpenAI's rule of thumb for English text ("a token is about four characters"); used only
# for work abandoned before the backend reported its count.
CHARS_PER_TOKEN = 4
# Inputs per backend call of an embedding request: between two calls, a request whose
# client left stops (a backend call under way, such as llama.cpp's in a thread, runs out).
EMBED_BATCH = 32


def estimated_tokens(texts: Sequence[str]) -> int:
    """Tokens ``texts`` hold, estimated from their length (``CHARS_PER_TOKEN``)."""
    return math.ceil(sum(len(text) for text in texts) / CHARS_PER_TOKEN)


@dataclass(frozen=True)
class Limits:
    timeout: float = 300.0  # seconds to wait for the backend's next piece of output
    max_tokens: int = 16384
    max_prompt_chars: int = 1_000_000
    max_choices: int = 8  # answers one request may ask for (OpenAI's n)


# Stop strings: as many as llama.cpp and vLLM take without a second thought, each bounded.
MAX_STOP_STRINGS = 16
MAX_STOP_CHARS = 256


class Generator:
    """Runs generations on a backend with the gateway's limits, timeouts and metrics.

    >>> generator = Generator(backend, Limits(timeout=30))
    >>> stream = await generator.start(request, caller)
    >>> completion = await stream.collect()    # or: async for event in stream: ...
    """

    def __init__(
        self,
        backend: Backend,
        limits: Limits,
        *,
        rate_limiter: RateLimits | None = None,
        concurrency: ConcurrencyLimiter | None = None,
        metrics: GatewayMetrics | None = None,
        must_stop: Callable[[], bool] = lambda: False,
    ) -> None:
        self.backend = backend
        self.limits = limits
        self.rate_limiter = rate_limiter
        self.concurrency = concurrency
        self.metrics = metrics
        self.must_stop = must_stop

    @property
    def backend_name(self) -> str:
        return self.backend.name

    async def start(self, request: GenerationRequest, caller: RequestInfo) -> GenerationStream:
        """Start a generation for ``caller``; raises ``ServiceError`` if it fails before its
        first event (limits, rate limits, a full queue, the backend's refusal or silence)."""
        self._check_limits(request)
        slot = await self._admit(caller)
        texts = (
            [request.prompt]
            if request.prompt is not None
            else [message.content for message in request.messages or ()]
        )
        try:
            if request.choices > 1:
                events = several_choices(self.backend, request)
            else:
                events = self.backend.generate(request)
            stream = GenerationStream(self, events, caller, slot, estimated_tokens(texts))
        except BaseException:
            await slot.aclose()
            raise
        await stream.begin()  # closes the stream, and so the slot, if it fails
        return stream

    async def embed(
        self,
        model: str,
        inputs: list[str],
        caller: RequestInfo,
        *,
        truncate: bool = False,
        keep_alive: str | float | None = None,
    ) -> Embeddings:
        """One vector per input, for ``caller``, under the same limits as generations; an
        input longer than the model's window is cut to fit when ``truncate`` is true, else
        refused (``Backend.embed``). Asks the backend ``EMBED_BATCH`` inputs at a time, each
        call within the timeout."""
        check_model_name(model)
        too_long = next((i for i, text in enumerate(inputs) if len(text) > self._max_chars), None)
        if too_long is not None:
            raise InvalidRequest(self._too_long_message(), param=f"input.{too_long}")
        vectors: list[list[float]] = []
        tokens = 0
        async with await self._admit(caller):
            for start in range(0, len(inputs), EMBED_BATCH):
                batch = inputs[start : start + EMBED_BATCH]
                try:
                    async with asyncio.timeout(self.limits.timeout):
                        result = await self.backend.embed(
                            model, batch, truncate=truncate, keep_alive=keep_alive
                        )
                except TimeoutError:
                    raise self._timeout_error() from None
                except ServiceError as exc:
                    self._count_backend_error(exc)
                    raise
                except asyncio.CancelledError:
                    # The client left: the batch under way was (or is being) embedded too.
                    self._record_tokens(caller, tokens + estimated_tokens(batch), 0)
                    raise
                vectors += result.vectors
                tokens += result.prompt_tokens
        self._record_tokens(caller, tokens, 0)
        return Embeddings(vectors=vectors, prompt_tokens=tokens)

    async def list_models(self) -> list[ModelInfo]:
        """The models requests may name."""
        return await self.backend.list_models()

    async def show(self, model: str) -> ModelInfo:
        """Everything known about ``model``; raises ``ModelNotFound`` if it is not served."""
        check_model_name(model)
        return await self.backend.show(model)

    async def running(self) -> list[ModelInfo]:
        """The models loaded now."""
        return await self.backend.running()

    async def load(self, model: str, keep_alive: str | float | None) -> str:
        """Load ``model`` (or unload it, ``keep_alive`` 0, where the backend can): Ollama's
        generate with an empty prompt. Returns Ollama's ``done_reason``."""
        check_model_name(model)
        return await self.backend.load(model, keep_alive)

    async def check_ready(self) -> None:
        """Return when the backend answers and the model is loaded; raise BackendUnavailable."""
        await self.backend.check_ready()

    @property
    def _max_chars(self) -> int:
        return self.limits.max_prompt_chars

    def _check_limits(self, request: GenerationRequest) -> None:
        check_model_name(request.model)
        max_tokens = request.options.max_tokens
        if max_tokens is not None and max_tokens > self.limits.max_tokens:
            raise AboveLimit(
                "options.max_tokens", max_tokens, self.limits.max_tokens, "LIFTOFF_MAX_TOKENS_LIMIT"
            )
        if request.choices > self.limits.max_choices:
            raise AboveLimit(
                "choices", request.choices, self.limits.max_choices, "LIFTOFF_MAX_CHOICES"
            )
        check_stop_strings(request.options.stop)
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

    async def _admit(self, caller: RequestInfo) -> AsyncExitStack:
        """Rate limits, then a generation slot, held until the returned stack is closed."""
        admitted = AsyncExitStack()
        try:
            if self.rate_limiter is not None:
                await self.rate_limiter.admit(caller.rate_key)
            if self.concurrency is not None:
                try:
                    await admitted.enter_async_context(self.concurrency.slot())
                except Overloaded:
                    # A request the gateway could not serve does not use up the key's rate.
                    if self.rate_limiter is not None:
                        self.rate_limiter.refund_request(caller.rate_key)
                    raise
        except (RateLimited, Overloaded) as exc:
            if self.metrics is not None:
                self.metrics.rejections.labels(exc.error_type).inc()
            raise
        return admitted

    def _record_tokens(self, caller: RequestInfo, prompt: int, completion: int) -> None:
        """Tokens used for ``caller``: on its record (the access log), its rate limit, metrics."""
        caller.prompt_tokens += prompt
        caller.completion_tokens += completion
        if self.rate_limiter is not None:
            self.rate_limiter.record_tokens(caller.rate_key, prompt + completion)
        if self.metrics is not None:
            self.metrics.prompt_tokens.labels(caller.key_id).inc(prompt)
            self.metrics.completion_tokens.labels(caller.key_id).inc(completion)

    def _timeout_error(self) -> BackendTimeout:
        return BackendTimeout(
            f"the {self.backend.name} backend sent nothing for {self.limits.timeout:g} s "
            "(LIFTOFF_REQUEST_TIMEOUT)"
        )

    def _count_backend_error(self, exc: ServiceError) -> None:
        if self.metrics is not None and isinstance(exc, BackendError):
            self.metrics.backend_errors.labels(exc.error_type).inc()


class GenerationStream:
    """One generation under way: an async iterator of ``TextDelta`` and ``ToolCall`` events
    and one ``Finish``.

    Each wait on the backend is bounded by the idle timeout; the stream ends with an error
    once the shutdown grace period is over. It closes itself exactly once, at its ``Finish``,
    at an error, or when ``aclose()`` is called (a client that went away): closing closes
    the backend's stream, which cancels the upstream generation, and frees the generation
    slot. Whoever iterates it without reaching the end must call ``aclose()``.

    The idle timeout costs no timer per token: ``__anext__`` notes when each wait on the
    backend begins, and one timer per stream (``_check_idle``) checks, when it fires,
    whether the current wait has lasted the whole timeout; if so it cancels the waiting
    task, and the wait ends as a ``BackendTimeout``. Time the consumer spends writing to a
    slow client is not counted against the backend.
    """

    def __init__(
        self,
        core: Generator,
        events: AsyncIterator[GenerationEvent],
        caller: RequestInfo,
        slot: AsyncExitStack,
        prompt_estimate: int = 0,
    ) -> None:
        self.usage: Usage | None = None  # the Finish's, once the generation has finished
        self._core = core
        self._events = events
        self._next_event = events.__anext__
        self._must_stop = core.must_stop
        self._caller = caller
        self._slot = slot
        self._loop = asyncio.get_running_loop()
        self._timeout = core.limits.timeout
        self._idle_timer: asyncio.TimerHandle | None = None
        self._idle_fired = False
        self._waiting: asyncio.Task[Any] | None = None  # the task waiting on the backend
        self._waiting_since = 0.0
        self._started = time.perf_counter()
        self._first_text_at: float | None = None
        self._peeked: GenerationEvent | None = None
        self._closed = False
        self._failed = False
        self._prompt_estimate = prompt_estimate
        self._texts = 0  # pieces of text received: a token each, for an abandoned stream

    async def begin(self) -> None:
        """Wait for the first event, so that a failure before it raises before any byte."""
        self._peeked = await self.__anext__()

    def __aiter__(self) -> GenerationStream:
        return self

    async def __anext__(self) -> GenerationEvent:
        # The hot path: once per token of every open stream.
        if (peeked := self._peeked) is not None:
            self._peeked = None
            return peeked
        if self._closed:
            raise StopAsyncIteration
        error: ServiceError
        try:
            if self._must_stop():
                raise BackendUnavailable(
                    "the gateway is shutting down and its grace period is over; retry"
                )
            self._waiting = asyncio.current_task()
            self._waiting_since = self._loop.time()
            if self._idle_timer is None:
                self._arm_idle_timer(self._waiting_since + self._timeout)
            try:
                event = await self._next_event()
            finally:
                self._waiting = None
        except StopAsyncIteration:
            error = BackendError(f"the {self._core.backend_name} backend ended without finishing")
        except ServiceError as exc:
            error = exc
        except asyncio.CancelledError:
            if not self._cancelled_by_idle_timer():
                await self.aclose()  # the client went away
                raise
            error = self._core._timeout_error()
        except BaseException:
            self._failed = True  # not the caller's doing: nothing to charge
            await self.aclose()
            raise
        else:
            if isinstance(event, TextDelta):
                self._texts += 1
                if self._first_text_at is None:
                    self._first_text()
                return event
            if isinstance(event, Finish):
                await self._finish(event)
            elif self._first_text_at is None:
                self._first_text()  # a tool call: the answer's first output
            return event
        self._core._count_backend_error(error)
        self._failed = True
        await self.aclose()
        raise error

    async def collect(self) -> Completion:
        """The whole generation: its text, finish reason and usage."""
        try:
            return await collect(self)
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        """End the generation now (idempotent): the backend's stream, then the slot. A
        generation ended before its finish without an error (its client left) is charged
        for what it consumed (see the module)."""
        if self._closed:
            return
        self._closed = True
        self._peeked = None
        if self.usage is None and not self._failed:
            self._core._record_tokens(self._caller, self._prompt_estimate, self._texts)
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        try:
            close = getattr(self._events, "aclose", None)
            if close is not None:
                # Closing the backend's stream is what cancels the upstream generation.
                await close()
        finally:
            await self._slot.aclose()

    def _arm_idle_timer(self, deadline: float) -> None:
        # The timer holds the stream weakly: a stream its response abandoned must not live
        # on, holding its generation slot, until the timer fires.
        self._idle_timer = self._loop.call_at(deadline, _check_idle, weakref.ref(self))

    def _check_idle(self) -> None:
        self._idle_timer = None
        if self._waiting is None:
            return  # not waiting on the backend now; the next wait re-arms
        deadline = self._waiting_since + self._timeout
        if self._loop.time() >= deadline:
            self._idle_fired = True
            self._waiting.cancel()
        else:
            self._arm_idle_timer(deadline)

    def _cancelled_by_idle_timer(self) -> bool:
        """Whether the cancellation being handled is the idle timer's, and only its."""
        if not self._idle_fired:
            return False
        self._idle_fired = False
        task = asyncio.current_task()
        return task is not None and task.uncancel() == 0  # nobody else asked for it too

    def _first_text(self) -> None:
        self._first_text_at = time.perf_counter()
        metrics = self._core.metrics
        if metrics is not None:
            metrics.time_to_first_token.labels(self._core.backend_name).observe(
                self._first_text_at - self._started
            )

    async def _finish(self, finish: Finish) -> None:
        self.usage = usage = finish.usage
        core = self._core
        core._record_tokens(self._caller, usage.prompt_tokens, usage.completion_tokens)
        if core.metrics is not None and usage.completion_tokens:
            if usage.generation_duration_ns:
                seconds = usage.generation_duration_ns / 1e9
            else:
                seconds = time.perf_counter() - (self._first_text_at or self._started)
            if seconds > 0:
                rate = usage.completion_tokens / seconds
                core.metrics.tokens_per_second.labels(core.backend_name).observe(rate)
        await self.aclose()  # nothing follows a Finish: free the slot before the last bytes


def _check_idle(stream: weakref.ref[GenerationStream]) -> None:
    if (alive := stream()) is not None:
        alive._check_idle()


def check_stop_strings(stops: tuple[str, ...]) -> None:
    """Refuse stop strings that could not mean what they say: empty ones (which would end
    every answer before it begins), too many, or too long ones."""
    if len(stops) > MAX_STOP_STRINGS:
        raise FieldError("options.stop", f"has {len(stops)} strings; at most {MAX_STOP_STRINGS}")
    for index, stop in enumerate(stops):
        if not stop:
            raise FieldError(f"options.stop.{index}", "is empty; a stop string needs a character")
        if len(stop) > MAX_STOP_CHARS:
            raise FieldError(
                f"options.stop.{index}",
                f"has {len(stop)} characters; at most {MAX_STOP_CHARS}",
            )


MAX_MODEL_NAME = 256
# What a model name may be, as the OpenAPI document says it (ECMA-262 and Rust regex alike:
# no lookaround): no control character or backslash, and no ".." anywhere.
MODEL_NAME_PATTERN = r"^\.?([^.\\\x00-\x1f]+\.?)*$"
_MODEL_NAME = re.compile(MODEL_NAME_PATTERN)


def check_model_name(model: str) -> None:
    """Refuse names that could mean something else to a backend: paths that climb out
    (``../``, the CVE-2024-37032 pattern), backslashes, control characters, huge names
    (``MODEL_NAME_PATTERN``, at most ``MAX_MODEL_NAME`` characters)."""
    if len(model) > MAX_MODEL_NAME or not _MODEL_NAME.fullmatch(model):
        raise InvalidRequest(f"model name {model[:64]!r} is not valid", param="model")
