"""Slow request heads and too many connections, against a real gateway process.

The probe's input: 300 connections sending one header line every 5 s stayed open for ever
(no key needed), and with a low file-descriptor limit ``/healthz`` failed 30 of 30."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator

import httpx
import pytest

from liftoff.server.connections import HEAD_TIMEOUT_S, MAX_HEAD_BYTES, connection_cap
from tests.fakes.ollama_server import FakeOllama
from tests.servers import ServerProcess

OPEN_FILES = 256  # the gateway's `ulimit -n`: fewer descriptors than slow connections


@pytest.fixture(scope="module")
def gateway(shared_fake_ollama: FakeOllama) -> Iterator[ServerProcess]:
    env = {"LIFTOFF_BACKEND": "ollama", "OLLAMA_HOST": shared_fake_ollama.url,
           "LIFTOFF_LOG_LEVEL": "WARNING"}  # fmt: skip
    with ServerProcess("liftoff.api.main:app", env, open_files=OPEN_FILES) as server:
        yield server


async def _slow_head(port: int, stop: asyncio.Event, interval: float) -> None:
    """A client that opens a request and sends one header line every ``interval`` s, and at
    its next tick opens a new connection when the server closed (or answered) its own, as
    slow-loris tools do."""
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(interval)
            continue
        try:
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            while not stop.is_set():
                await writer.drain()
                try:
                    async with asyncio.timeout(interval):
                        await reader.read(1024)
                    break  # closed or answered by the server: start again
                except TimeoutError:
                    writer.write(b"X-Slow: 1\r\n")
        except OSError:
            pass
        finally:
            writer.close()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(interval):
                await stop.wait()


async def test_health_checks_answer_while_300_slow_heads_are_held(gateway: ServerProcess) -> None:
    stop = asyncio.Event()
    attackers = [asyncio.create_task(_slow_head(gateway.port, stop, 5.0)) for _ in range(300)]
    await asyncio.sleep(3)  # all 300 connected, more than the process has descriptors for
    answered = 0
    async with httpx.AsyncClient(timeout=5) as client:
        for _ in range(30):
            with contextlib.suppress(httpx.HTTPError):
                response = await client.get(f"{gateway.url}/healthz",
                                            headers={"Connection": "close"})  # fmt: skip
                answered += response.status_code == 200
            await asyncio.sleep(0.2)
    stop.set()
    await asyncio.gather(*attackers)
    assert answered == 30
    assert gateway.process is not None and gateway.process.poll() is None


async def test_a_head_arriving_too_slowly_gets_408_and_the_connection_closes(
    gateway: ServerProcess,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    started = time.monotonic()
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")

    async def trickle() -> None:  # a line now and then: not enough
        while not writer.is_closing():
            await asyncio.sleep(1)
            writer.write(b"X-Slow: 1\r\n")

    sender = asyncio.create_task(trickle())
    answer = b""
    try:
        async with asyncio.timeout(HEAD_TIMEOUT_S + 10):
            while chunk := await reader.read(1024):
                answer += chunk
    except ConnectionResetError:
        pass  # a line sent after the server closed: the answer came before it
    finally:
        sender.cancel()
        writer.close()
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert HEAD_TIMEOUT_S - 1 < time.monotonic() - started < HEAD_TIMEOUT_S + 5


async def test_a_kept_alive_connection_gets_the_same_head_timeout(gateway: ServerProcess) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    first = await reader.readuntil(b"}")  # the first request, answered at once
    assert first.startswith(b"HTTP/1.1 200 ")
    writer.write(b"GET /healthz HTTP/1.1\r\n")  # the second one never ends its head
    started = time.monotonic()
    async with asyncio.timeout(HEAD_TIMEOUT_S + 10):
        rest = await reader.read()
    writer.close()
    assert rest.startswith(b"HTTP/1.1 408 ")
    assert time.monotonic() - started < HEAD_TIMEOUT_S + 5


def test_a_head_over_the_size_limit_gets_431(gateway: ServerProcess) -> None:
    headers = {f"X-Big-{i}": "x" * 1000 for i in range(MAX_HEAD_BYTES // 1000 + 5)}
    response = httpx.get(f"{gateway.url}/healthz", headers=headers)
    assert response.status_code == 431
    assert httpx.get(f"{gateway.url}/healthz").status_code == 200


def test_the_connection_cap_leaves_descriptors_for_the_rest() -> None:
    assert connection_cap(OPEN_FILES) == 192
    assert connection_cap(1024) == 768
    assert connection_cap(100_000) == 75_000
