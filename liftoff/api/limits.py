"""Per-key rate limits and the per-instance concurrency limit.

The concurrency limit is each instance's own (a request queue per instance is what Cloud
Run and Kubernetes autoscaling expect). Rate limits are kept in this process by
:class:`RateLimiter`, or, with ``LIFTOFF_REDIS_URL``, shared by every instance through Redis
(``liftoff.api.shared_limits``); the generator sees either through :class:`RateLimits`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Literal, Protocol

from liftoff.api.errors import Overloaded, RateLimited

# Buckets of keys idle this long are forgotten, so the table cannot grow without bound.
_IDLE_FORGET_SECONDS = 300.0


@dataclass
class _Bucket:
    level: float
    updated: float


class TokenBucket:
    """Per-key buckets of ``per_minute`` units refilled continuously (burst = one minute)."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._rate = per_minute / 60.0
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def _refilled(self, key: str) -> _Bucket:
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(float(self.per_minute), now)
            if len(self._buckets) > 10_000:
                self._forget_idle(now)
        else:
            bucket.level = min(self.per_minute, bucket.level + (now - bucket.updated) * self._rate)
            bucket.updated = now
        return bucket

    def wait_seconds(self, key: str, amount: float = 1.0) -> float:
        """0 if ``amount`` is available now, else the seconds until it will be."""
        bucket = self._refilled(key)
        return 0.0 if bucket.level >= amount else (amount - bucket.level) / self._rate

    def take(self, key: str, amount: float) -> None:
        """Remove ``amount`` (the level may go below zero: tokens are counted after use)."""
        self._refilled(key).level -= amount

    def _forget_idle(self, now: float) -> None:
        idle = [k for k, b in self._buckets.items() if now - b.updated > _IDLE_FORGET_SECONDS]
        for key in idle:
            del self._buckets[key]


class RateLimits(Protocol):
    """What the generator asks of a rate limiter: admit a request (raising ``RateLimited``,
    429 with Retry-After), give one back, charge the tokens a request used."""

    async def admit(self, key: str) -> None: ...

    def refund_request(self, key: str) -> None: ...

    def record_tokens(self, key: str, tokens: int) -> None: ...


def rate_limit_message(kind: Literal["requests", "tokens"], per_minute: int) -> str:
    if kind == "tokens":
        return f"token rate limit reached ({per_minute} tokens per minute)"
    return f"request rate limit reached ({per_minute} per minute)"


class RateLimiter:
    """Requests and tokens per minute, per key, in this process; 429 with Retry-After when
    exceeded.

    >>> limiter = RateLimiter(requests_per_minute=60, tokens_per_minute=10_000)
    >>> await limiter.admit("key-1")            # raises RateLimited when the key is over
    >>> limiter.record_tokens("key-1", 350)
    """

    def __init__(
        self,
        *,
        requests_per_minute: int | None,
        tokens_per_minute: int | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._requests = TokenBucket(requests_per_minute, clock) if requests_per_minute else None
        self._tokens = TokenBucket(tokens_per_minute, clock) if tokens_per_minute else None

    async def admit(self, key: str) -> None:
        if self._tokens is not None:
            # Token use is only known afterwards; a key in debt waits until it is repaid.
            wait = self._tokens.wait_seconds(key, 1.0)
            if wait > 0:
                message = rate_limit_message("tokens", self._tokens.per_minute)
                raise RateLimited(message, retry_after=wait)
        if self._requests is not None:
            wait = self._requests.wait_seconds(key, 1.0)
            if wait > 0:
                message = rate_limit_message("requests", self._requests.per_minute)
                raise RateLimited(message, retry_after=wait)
            self._requests.take(key, 1.0)

    def refund_request(self, key: str) -> None:
        """Give back a request admitted but then refused elsewhere (no slot free)."""
        if self._requests is not None:
            self._requests.take(key, -1.0)

    def record_tokens(self, key: str, tokens: int) -> None:
        if self._tokens is not None and tokens > 0:
            self._tokens.take(key, tokens)


class ConcurrencyLimiter:
    """At most ``limit`` generations at once; up to ``queue`` more wait, the rest get 503.

    Matched to what the backend runs in parallel (``OLLAMA_NUM_PARALLEL``, llama.cpp
    slots), so requests wait here, visibly, instead of piling up inside the backend.
    """

    def __init__(self, limit: int, *, queue: int, queue_timeout: float) -> None:
        self.limit = limit
        self.queue_size = queue
        self.queue_timeout = queue_timeout
        self.active = 0
        self.waiting = 0
        self._free = asyncio.Condition()

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        await self._acquire()
        try:
            yield
        finally:
            await self._release()

    async def _acquire(self) -> None:
        if self.active < self.limit and self.waiting == 0:
            self.active += 1
            return
        if self.waiting >= self.queue_size:
            raise Overloaded(
                f"all {self.limit} generation slots and {self.queue_size} queue places are "
                "taken; retry shortly",
                retry_after=1,
            )
        self.waiting += 1
        try:
            async with asyncio.timeout(self.queue_timeout), self._free:
                await self._free.wait_for(lambda: self.active < self.limit)
                self.active += 1
        except TimeoutError:
            raise Overloaded(
                f"waited {self.queue_timeout:g} s for a generation slot; retry shortly",
                retry_after=1,
            ) from None
        finally:
            self.waiting -= 1

    async def _release(self) -> None:
        self.active -= 1
        async with self._free:
            # All waiters re-check; a notified waiter that was cancelled cannot swallow it.
            self._free.notify_all()
