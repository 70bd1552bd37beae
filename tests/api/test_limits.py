"""Rate limits per key, the concurrency limit with its bounded queue, CORS and size limits."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from liftoff.api.errors import Overloaded, RateLimited
from liftoff.api.limits import ConcurrencyLimiter, RateLimiter
from tests.fakes.ollama_server import DEFAULT_MODEL, FakeOllama
from tests.servers import ServerProcess


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_requests_per_minute_refill_continuously() -> None:
    clock = Clock()
    limiter = RateLimiter(requests_per_minute=2, tokens_per_minute=None, clock=clock)
    await limiter.admit("a")
    await limiter.admit("a")
    with pytest.raises(RateLimited) as caught:
        await limiter.admit("a")
    assert caught.value.headers == {"Retry-After": "30"}
    await limiter.admit("b")  # another key has its own budget
    clock.now += 30
    await limiter.admit("a")


async def test_tokens_per_minute_block_a_key_in_debt_until_repaid() -> None:
    clock = Clock()
    limiter = RateLimiter(requests_per_minute=None, tokens_per_minute=600, clock=clock)
    await limiter.admit("a")
    limiter.record_tokens("a", 1000)  # 400 tokens over budget: 40 s at 10 tokens/s
    with pytest.raises(RateLimited, match="600 tokens per minute") as caught:
        await limiter.admit("a")
    assert caught.value.headers == {"Retry-After": "41"}
    clock.now += 41
    await limiter.admit("a")


async def test_a_refunded_request_does_not_count_against_the_key() -> None:
    clock = Clock()
    limiter = RateLimiter(requests_per_minute=1, tokens_per_minute=None, clock=clock)
    await limiter.admit("a")
    limiter.refund_request("a")  # e.g. refused with 503: no slot was free
    await limiter.admit("a")
    with pytest.raises(RateLimited):
        await limiter.admit("a")


async def test_concurrency_queue_is_bounded_and_first_come_first_served() -> None:
    limiter = ConcurrencyLimiter(1, queue=1, queue_timeout=5)
    order: list[str] = []
    release_first = asyncio.Event()

    async def first() -> None:
        async with limiter.slot():
            order.append("first")
            await release_first.wait()

    async def second() -> None:
        async with limiter.slot():
            order.append("second")

    tasks = [asyncio.create_task(first())]
    await asyncio.sleep(0)
    tasks.append(asyncio.create_task(second()))
    await asyncio.sleep(0)
    assert (limiter.active, limiter.waiting) == (1, 1)
    with pytest.raises(Overloaded) as caught:
        async with limiter.slot():
            pass
    assert caught.value.headers == {"Retry-After": "1"}
    release_first.set()
    await asyncio.gather(*tasks)
    assert order == ["first", "second"]
    assert (limiter.active, limiter.waiting) == (0, 0)


async def test_queued_request_gives_up_after_the_queue_timeout() -> None:
    limiter = ConcurrencyLimiter(1, queue=4, queue_timeout=0.05)
    async with limiter.slot():
        with pytest.raises(Overloaded, match=r"waited 0\.05 s"):
            async with limiter.slot():
                pass
    assert (limiter.active, limiter.waiting) == (0, 0)


def _gateway(fake: FakeOllama, **env: str) -> ServerProcess:
    env = {"LIFTOFF_BACKEND": "ollama", "OLLAMA_HOST": fake.url, **env}
    return ServerProcess("liftoff.api.main:app", env)


def _chat(url: str, key: str | None = None, **extra: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    body = {"model": DEFAULT_MODEL, "messages": [{"role": "user", "content": "a b c d"}], **extra}
    return httpx.post(f"{url}/v1/chat/completions", json=body, headers=headers, timeout=30)


def test_rate_limit_is_per_key_with_retry_after(fake_ollama: FakeOllama) -> None:
    with _gateway(fake_ollama, LIFTOFF_API_KEYS="k1,k2", LIFTOFF_RATE_LIMIT_RPM="2") as gw:
        assert [_chat(gw.url, "k1").status_code for _ in range(2)] == [200, 200]
        refused = _chat(gw.url, "k1")
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) >= 1
        assert refused.json()["error"]["type"] == "rate_limit_exceeded"
        assert _chat(gw.url, "k2").status_code == 200


@pytest.fixture
def slow_ollama(fake_ollama: FakeOllama) -> Iterator[FakeOllama]:
    fake_ollama.token_delay = 0.2
    yield fake_ollama
    fake_ollama.token_delay = 0


def test_full_queue_answers_503_with_retry_after_instead_of_piling_up(
    slow_ollama: FakeOllama,
) -> None:
    with _gateway(slow_ollama, LIFTOFF_MAX_CONCURRENCY="1", LIFTOFF_MAX_QUEUE="1") as gw:
        results: list[int] = []
        threads = [
            threading.Thread(target=lambda: results.append(_chat(gw.url, max_tokens=8).status_code))
            for _ in range(2)
        ]
        for thread in threads:
            thread.start()
        metrics = ""
        for _ in range(100):  # until one runs and one waits
            metrics = httpx.get(f"{gw.url}/metrics").text
            if "liftoff_requests_queued 1.0" in metrics:
                break
            threading.Event().wait(0.02)
        assert "liftoff_requests_in_flight 1.0" in metrics
        refused = _chat(gw.url)
        for thread in threads:
            thread.join()
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "1"
    assert refused.json()["error"]["type"] == "overloaded"
    assert sorted(results) == [200, 200]


def test_prompt_length_limit_names_the_setting(fake_ollama: FakeOllama) -> None:
    with _gateway(fake_ollama, LIFTOFF_MAX_PROMPT_CHARS="10") as gw:
        response = _chat(gw.url, messages=[{"role": "user", "content": "x" * 11}])
    assert response.status_code == 400
    assert response.json()["error"]["message"] == (
        "the input is longer than this gateway's limit of 10 characters (LIFTOFF_MAX_PROMPT_CHARS)"
    )


def _preflight(url: str, origin: str) -> httpx.Response:
    return httpx.options(
        f"{url}/v1/chat/completions",
        headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
    )


def test_cors_is_closed_by_default(fake_ollama: FakeOllama) -> None:
    with _gateway(fake_ollama) as gw:
        response = _preflight(gw.url, "https://evil.example")
        assert "access-control-allow-origin" not in response.headers
        simple = httpx.get(f"{gw.url}/v1/models", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in simple.headers


def test_cors_opens_only_to_the_allow_list(fake_ollama: FakeOllama) -> None:
    with _gateway(fake_ollama, LIFTOFF_CORS_ORIGINS="https://app.example") as gw:
        allowed = _preflight(gw.url, "https://app.example")
        assert allowed.headers["access-control-allow-origin"] == "https://app.example"
        refused = _preflight(gw.url, "https://evil.example")
        assert "access-control-allow-origin" not in refused.headers
