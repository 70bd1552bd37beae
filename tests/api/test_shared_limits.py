"""Rate limits shared through a real Redis (Debian's redis-server, started per test): they hold
across limiters and across two gateway processes, atomically, and Redis going away (stopped,
or too slow) degrades to each instance's own limits with a logged warning, never a 500."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import redis
from pydantic import ValidationError

from liftoff.api.config import Settings
from liftoff.api.errors import RateLimited
from liftoff.api.shared_limits import RedisRateLimiter, safe_location
from tests.evaluation.service.conftest import metric_value
from tests.fakes.ollama_server import DEFAULT_MODEL, FakeOllama
from tests.redis import RedisServer
from tests.servers import ServerProcess

LOGGER = "liftoff.api.shared_limits"


@pytest.fixture
async def limiters(redis_server: RedisServer) -> AsyncIterator[list[RedisRateLimiter]]:
    """Two limiters on one Redis, as two instances of the gateway have (2 requests and 600
    tokens a minute per key)."""

    def limiter() -> RedisRateLimiter:
        return RedisRateLimiter(redis_server.url, requests_per_minute=2, tokens_per_minute=600,
                                timeout=0.25, retry_seconds=0.5)  # fmt: skip

    opened = [limiter(), limiter()]
    yield opened
    for limiter in opened:
        await limiter.close()


async def _admitted(limiter: RedisRateLimiter, key: str) -> bool:
    try:
        await limiter.admit(key)
    except RateLimited:
        return False
    return True


async def test_a_keys_requests_per_minute_hold_across_instances(
    limiters: list[RedisRateLimiter],
) -> None:
    first, second = limiters
    await first.admit("key-a")
    await second.admit("key-a")
    with pytest.raises(RateLimited, match=r"request rate limit reached \(2 per minute\)") as caught:
        await first.admit("key-a")  # each instance alone would still allow one more
    assert 29 <= caught.value.retry_after <= 30  # half a minute refills one of two
    await second.admit("key-b")  # another key has its own budget
    assert first.shared and second.shared


async def test_tokens_one_instance_charged_block_the_key_on_the_other(
    limiters: list[RedisRateLimiter],
) -> None:
    first, second = limiters
    await first.admit("key-a")
    first.record_tokens("key-a", 1000)  # 400 over 600 a minute: 40 s of debt
    await first.flush()
    with pytest.raises(RateLimited, match="600 tokens per minute") as caught:
        await second.admit("key-a")
    assert 40 <= caught.value.retry_after <= 41
    first.refund_request("key-b")  # a full bucket stays full
    await first.admit("key-b")
    await first.admit("key-b")


async def test_concurrent_requests_through_two_instances_are_admitted_exactly_to_the_limit(
    redis_server: RedisServer,
) -> None:
    opened = [RedisRateLimiter(redis_server.url, requests_per_minute=20, tokens_per_minute=None)
              for _ in range(2)]  # fmt: skip
    try:
        results = await asyncio.gather(*(_admitted(opened[i % 2], "key-a") for i in range(60)))
    finally:
        for limiter in opened:
            await limiter.close()
    assert sum(results) == 20


async def test_a_refunded_request_is_given_back_to_every_instance(
    limiters: list[RedisRateLimiter],
) -> None:
    first, second = limiters
    await first.admit("key-a")
    await first.admit("key-a")
    second.refund_request("key-a")  # e.g. refused with 503 there: no slot was free
    await second.flush()
    await first.admit("key-a")
    assert not await _admitted(second, "key-a")


async def test_buckets_expire_once_full_again_so_idle_keys_cost_nothing(
    limiters: list[RedisRateLimiter], redis_server: RedisServer
) -> None:
    first, _ = limiters
    await first.admit("key-a")
    raw = redis.Redis.from_url(redis_server.url)
    try:
        keys = [key.decode() for key in raw.keys("*")]
        assert keys == ["liftoff:ratelimit:{key-a}:requests"]  # one Cluster slot per key
        assert 30_000 < raw.pttl(keys[0]) <= 31_000  # one request of two: full in 30 s
        first.refund_request("key-a")
        await first.flush()
        assert raw.keys("*") == []  # full again: nothing kept
    finally:
        raw.close()


async def test_redis_going_away_falls_back_to_local_limits_and_comes_back(
    limiters: list[RedisRateLimiter], redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    first, _ = limiters
    await first.admit("key-a")
    redis_server.stop()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        started = time.monotonic()
        await first.admit("key-a")  # not refused, not an error: this instance's own limit
        assert time.monotonic() - started < 1.0
        await first.admit("key-a")
        assert not first.shared
        with pytest.raises(RateLimited):
            await first.admit("key-a")  # the local limit, 2 a minute, holds meanwhile
        first.record_tokens("key-b", 700)  # charged locally while Redis is away
        assert not await _admitted(first, "key-b")
    away = [r.getMessage() for r in caplog.records if "does not answer" in r.getMessage()]
    assert len(away) == 1, away  # one warning per outage, not one per request
    assert away[0].startswith(f"Redis at {redis_server.url} does not answer")

    redis_server.start()  # same port, empty
    await asyncio.sleep(0.6)  # retry_seconds
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        await first.admit("key-a")  # a fresh Redis: a full bucket again
    assert first.shared
    assert any("answers again" in r.getMessage() for r in caplog.records)


async def test_a_redis_too_slow_to_answer_is_treated_as_away(
    limiters: list[RedisRateLimiter], redis_server: RedisServer
) -> None:
    first, _ = limiters
    raw = redis.Redis.from_url(redis_server.url)
    try:
        raw.execute_command("CLIENT", "PAUSE", "3000", "ALL")  # every client waits 3 s
        started = time.monotonic()
        await first.admit("key-a")
        assert time.monotonic() - started < 1.5  # twice the 0.25 s timeout, and a margin
        assert not first.shared
    finally:
        raw.execute_command("CLIENT", "UNPAUSE")
        raw.close()


def test_urls_in_logs_carry_no_password() -> None:
    assert safe_location("rediss://:s3cret@10.0.0.3:6378/0") == "rediss://10.0.0.3:6378/0"
    assert safe_location("redis://user:s3cret@cache:6379/2") == "redis://user@cache:6379/2"
    assert safe_location("unix:///run/redis.sock?db=1") == "unix:///run/redis.sock"


def _gateway(fake: FakeOllama, redis_url: str, **env: str) -> ServerProcess:
    env = {"LIFTOFF_BACKEND": "ollama", "OLLAMA_HOST": fake.url, "LIFTOFF_API_KEYS": "k1,k2",
           "LIFTOFF_METRICS_PUBLIC": "true", "LIFTOFF_REDIS_URL": redis_url, **env}  # fmt: skip
    return ServerProcess("liftoff.api.main:app", env)


def _chat(url: str, key: str = "k1", **extra: Any) -> httpx.Response:
    body = {"model": DEFAULT_MODEL, "messages": [{"role": "user", "content": "a b"}], **extra}
    return httpx.post(f"{url}/v1/chat/completions", json=body,
                      headers={"Authorization": f"Bearer {key}"}, timeout=30)  # fmt: skip


def _shared(url: str) -> float:
    return metric_value(httpx.get(f"{url}/metrics").text, "liftoff_rate_limits_shared")


def test_two_gateway_processes_share_one_limit_and_keep_serving_when_redis_goes_away(
    fake_ollama: FakeOllama, redis_server: RedisServer
) -> None:
    env = {"LIFTOFF_RATE_LIMIT_RPM": "3", "LIFTOFF_REDIS_TIMEOUT": "0.2"}
    with (
        _gateway(fake_ollama, redis_server.url, **env) as one,
        _gateway(fake_ollama, redis_server.url, **env) as two,
    ):
        statuses = [_chat(gateway.url).status_code for gateway in (one, two, one, two, one, two)]
        assert statuses == [200, 200, 200, 429, 429, 429]  # 3 a minute, not 3 per gateway
        refused = _chat(two.url)
        assert refused.json()["error"]["message"] == "request rate limit reached (3 per minute)"
        assert int(refused.headers["Retry-After"]) >= 1
        assert _chat(one.url, key="k2").status_code == 200  # another key, its own budget
        assert _shared(one.url) == _shared(two.url) == 1

        redis_server.stop()
        # Never a 500: each gateway limits on its own (3 a minute each) and says so, once.
        assert [_chat(one.url).status_code for _ in range(4)] == [200, 200, 200, 429]
        assert [_chat(two.url).status_code for _ in range(4)] == [200, 200, 200, 429]
        assert _shared(one.url) == _shared(two.url) == 0
        for gateway in (one, two):
            output = gateway.output()
            assert output.count("does not answer") == 1, output
            assert "rate limits are this instance's own until it is back" in output

        redis_server.start()  # back, and empty: full buckets
        time.sleep(5.5)  # the gateways try Redis again every 5 s
        assert _chat(one.url, key="k2").status_code == 200
        assert _shared(one.url) == 1
        assert "answers again: rate limits are shared again" in one.output()


@pytest.mark.parametrize(
    "url", ["http://:redis-pass-41@cache:6379", "memcached://cache:11211", "cache:6379"]
)
def test_a_redis_url_that_is_not_one_is_refused_without_echoing_it(url: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(redis_url=url)
    message = str(refused.value)
    assert "LIFTOFF_REDIS_URL must be a redis://, rediss:// or unix:// URL" in message
    assert url not in message and "redis-pass-41" not in message


def test_empty_variables_as_compose_passes_them_are_unset() -> None:
    settings = Settings(redis_url="", rate_limit_rpm="", rate_limit_tpm="")  # type: ignore[arg-type]
    assert (settings.redis_url, settings.rate_limit_rpm, settings.rate_limit_tpm) == (None,) * 3
