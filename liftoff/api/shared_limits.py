"""Rate limits shared by every gateway instance, kept in Redis (Memorystore in the cloud).

The same token buckets as the in-process limiter (``liftoff.api.limits``), held in Redis and
changed only by the Lua scripts below, which Redis runs atomically (``EVALSHA``; see "Atomicity
of scripts" in Redis' scripting documentation): with three Cloud Run instances a key gets its
configured rate in total, not three times it. Bucket times are Redis' own clock (``TIME``), so
the instances' clocks never meet, and a bucket expires when it would be full again, so idle
keys cost nothing. Keys are ``liftoff:ratelimit:{<key id>}:requests`` and ``...:tokens``; the
braces keep a key's two buckets in one Redis Cluster slot.

Redis going away never refuses a request: when it does not answer within ``timeout`` (down,
unreachable, too slow), the instance logs a warning and limits on its own with the
in-process limiter, trying Redis again every ``retry_seconds``; it logs again when Redis is
back. Charges made after a response (tokens used, refunds) are sent in the background, so no
response waits for its accounting.

    >>> limiter = RedisRateLimiter("redis://10.0.0.3:6379/0", requests_per_minute=60,
    ...                            tokens_per_minute=None)                  # doctest: +SKIP
    >>> await limiter.admit("key-1a2b")     # raises RateLimited when the key is over
    >>> limiter.record_tokens("key-1a2b", 350)
"""

from __future__ import annotations

import asyncio
import logging
import time
from urllib.parse import urlsplit

from redis.asyncio import Redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from liftoff.api.errors import RateLimited
from liftoff.api.limits import RateLimiter, rate_limit_message

logger = logging.getLogger(__name__)

_BUCKETS = """
local function now()
    local t = redis.call('TIME')
    return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
-- A bucket's level at time `at`: refilled continuously, full (`size`) when it does not exist.
local function level(key, size, at)
    local bucket = redis.call('HMGET', key, 'level', 'updated')
    if not bucket[1] then return size end
    return math.min(size, tonumber(bucket[1]) + (at - tonumber(bucket[2])) * size / 60)
end
-- Store a level; a full bucket is no bucket, and a bucket expires when it would be full.
local function store(key, value, size, at)
    if value >= size then
        redis.call('DEL', key)
        return
    end
    redis.call('HSET', key, 'level', value, 'updated', at)
    redis.call('PEXPIRE', key, math.ceil((size - value) * 60000 / size) + 1000)
end
"""
# KEYS: the requests bucket, the tokens bucket; ARGV: requests and tokens per minute (0: no
# limit). Returns {0, "0"} and takes one request, or {1 (requests) or 2 (tokens), seconds to
# wait}. A key in token debt waits until it is repaid, as in the in-process limiter.
_ADMIT = (
    _BUCKETS
    + """
local at = now()
local rpm, tpm = tonumber(ARGV[1]), tonumber(ARGV[2])
if tpm > 0 then
    local tokens = level(KEYS[2], tpm, at)
    if tokens < 1 then return {2, tostring((1 - tokens) * 60 / tpm)} end
end
if rpm > 0 then
    local requests = level(KEYS[1], rpm, at)
    if requests < 1 then return {1, tostring((1 - requests) * 60 / rpm)} end
    store(KEYS[1], requests - 1, rpm, at)
end
return {0, "0"}
"""
)
# KEYS: a bucket; ARGV: the amount taken (negative: given back), the bucket's size per minute.
_TAKE = (
    _BUCKETS
    + """
local at = now()
local size = tonumber(ARGV[2])
store(KEYS[1], level(KEYS[1], size, at) - tonumber(ARGV[1]), size, at)
return 0
"""
)

_FAILURES = (RedisError, OSError, TimeoutError)


def safe_location(url: str) -> str:
    """The Redis URL without its password: for logs."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"unix://{parts.path}"
    user = f"{parts.username}@" if parts.username else ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{user}{parts.hostname or ''}{port}{parts.path}"


class RedisRateLimiter:
    """Requests and tokens per minute, per key, shared through Redis at ``url`` (see the
    module docstring); the in-process :class:`RateLimiter` while Redis does not answer."""

    def __init__(
        self,
        url: str,
        *,
        requests_per_minute: int | None,
        tokens_per_minute: int | None,
        timeout: float = 0.25,
        retry_seconds: float = 5.0,
        prefix: str = "liftoff:ratelimit",
    ) -> None:
        self.location = safe_location(url)
        self.timeout = timeout
        self.retry_seconds = retry_seconds
        self._rpm = requests_per_minute or 0
        self._tpm = tokens_per_minute or 0
        self._prefix = prefix
        self._client = Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 1),  # one reconnection (Redis restarted), no waiting
        )
        self._admit = self._client.register_script(_ADMIT)
        self._take = self._client.register_script(_TAKE)
        self._local = RateLimiter(
            requests_per_minute=requests_per_minute, tokens_per_minute=tokens_per_minute
        )
        self._away_until: float | None = None  # monotonic time of the next try, while away
        self._charges: set[asyncio.Task[None]] = set()

    @property
    def shared(self) -> bool:
        """True while the limits are shared through Redis (False: this instance alone)."""
        return self._away_until is None

    async def start(self) -> None:
        """Say where the limits are kept (Redis not answering is a warning, not an error)."""
        try:
            async with asyncio.timeout(self.timeout * 4):
                await self._client.ping()  # type: ignore[misc]  # redis' sync/async union
        except _FAILURES as exc:
            self._went_away(exc)
        else:
            logger.info("rate limits shared by every instance through Redis at %s",
                        self.location)  # fmt: skip

    async def flush(self) -> None:
        """Wait for the charges in flight (each takes at most twice ``timeout``)."""
        if self._charges:
            await asyncio.wait(set(self._charges))

    async def close(self) -> None:
        """Send the charges still in flight, then close the connections."""
        await self.flush()
        await self._client.aclose()

    async def admit(self, key: str) -> None:
        """Take one request of ``key``'s budget; raises ``RateLimited`` when it is over."""
        if self._redis_now():
            try:
                async with asyncio.timeout(self.timeout * 2):  # a reconnection included
                    verdict, wait = await self._admit(keys=self._keys(key),
                                                      args=[self._rpm, self._tpm])  # fmt: skip
            except _FAILURES as exc:
                self._went_away(exc)
            else:
                self._came_back()
                if int(verdict) == 0:
                    return
                if int(verdict) == 1:
                    message = rate_limit_message("requests", self._rpm)
                else:
                    message = rate_limit_message("tokens", self._tpm)
                raise RateLimited(message, retry_after=float(wait))
        await self._local.admit(key)

    def refund_request(self, key: str) -> None:
        """Give back a request admitted but then refused elsewhere (no slot free)."""
        if self._rpm:
            self._charge(key, "requests", -1, self._rpm)

    def record_tokens(self, key: str, tokens: int) -> None:
        if self._tpm and tokens > 0:
            self._charge(key, "tokens", tokens, self._tpm)

    def _keys(self, key: str) -> list[str]:
        return [f"{self._prefix}:{{{key}}}:requests", f"{self._prefix}:{{{key}}}:tokens"]

    def _charge(self, key: str, bucket: str, amount: int, per_minute: int) -> None:
        if not self._redis_now():
            self._charge_locally(key, bucket, amount)
            return
        task = asyncio.get_running_loop().create_task(self._send(key, bucket, amount, per_minute))
        self._charges.add(task)
        task.add_done_callback(self._charges.discard)

    async def _send(self, key: str, bucket: str, amount: int, per_minute: int) -> None:
        requests, tokens = self._keys(key)
        try:
            async with asyncio.timeout(self.timeout * 2):
                await self._take(keys=[requests if bucket == "requests" else tokens],
                                 args=[amount, per_minute])  # fmt: skip
        except _FAILURES as exc:
            self._went_away(exc)
            self._charge_locally(key, bucket, amount)

    def _charge_locally(self, key: str, bucket: str, amount: int) -> None:
        if bucket == "requests":
            self._local.refund_request(key)
        else:
            self._local.record_tokens(key, amount)

    def _redis_now(self) -> bool:
        """Whether to ask Redis: yes while it answers, and once every ``retry_seconds``."""
        if self._away_until is None:
            return True
        if time.monotonic() < self._away_until:
            return False
        self._away_until = time.monotonic() + self.retry_seconds  # one request tries
        return True

    def _went_away(self, exc: BaseException) -> None:
        if self._away_until is None:
            logger.warning(
                "Redis at %s does not answer (%s): rate limits are this instance's own until "
                "it is back (retrying every %g s)", self.location,
                str(exc) or type(exc).__name__, self.retry_seconds,
            )  # fmt: skip
        self._away_until = time.monotonic() + self.retry_seconds

    def _came_back(self) -> None:
        if self._away_until is not None:
            self._away_until = None
            logger.warning("Redis at %s answers again: rate limits are shared again",
                           self.location)  # fmt: skip
