"""A lean load generator: HTTP/1.1 keep-alive connections on raw asyncio streams.

A general-purpose client (httpx, the OpenAI SDK) spends tens to hundreds of microseconds
of Python per chunk; on a 2-core machine that would blur the very overhead being measured.
This client writes the request, reads the chunked body and the server-sent events as they
arrive, and timestamps the first content token and the end of the response::

    async with Connection("127.0.0.1", 8000) as connection:
        result = await connection.stream("/v1/chat/completions", body)
    print(result.ttft, result.latency, result.tokens)

``closed_loop`` keeps N such streams busy for a fixed time, as N users would.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class StreamResult:
    """One request: seconds from writing it to its first content token and to its end."""

    start: float
    ttft: float = math.nan
    latency: float = math.nan
    tokens: int = 0
    usage_tokens: int | None = None
    status: int = 0
    retry_after: str | None = None  # the Retry-After header, when the answer has one
    done: bool = False  # the stream ended with ``data: [DONE]``
    error: str | None = None
    text: list[str] = field(default_factory=list)
    token_times: list[float] = field(default_factory=list)


class Connection:
    """One keep-alive HTTP/1.1 connection to a loopback server; reopened when closed."""

    def __init__(self, host: str, port: int, headers: dict[str, str] | None = None) -> None:
        self.host = host
        self.port = port
        self._headers = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> Connection:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def stream(
        self,
        path: str,
        body: bytes,
        *,
        on_token: Callable[[float], None] | None = None,
        keep_text: bool = False,
    ) -> StreamResult:
        """POST ``body`` to ``path`` and read the whole streamed answer."""
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(
                self.host, self.port, limit=2**20
            )
        reader, writer = self._reader, self._writer
        if reader is None:  # set together with the writer
            raise RuntimeError("the connection has a writer but no reader")
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            "Content-Type: application/json\r\nAccept: text/event-stream\r\n"
            f"{self._headers}Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        result = StreamResult(start=time.perf_counter())
        writer.write(head + body)
        try:
            keep_alive = await self._read_response(reader, result, on_token, keep_text)
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            result.error = f"{type(exc).__name__}: {exc}"
            keep_alive = False
        except BaseException:
            await self.close()  # a half-read response leaves the connection unusable
            raise
        if not keep_alive:
            await self.close()
        return result

    async def _read_response(
        self,
        reader: asyncio.StreamReader,
        result: StreamResult,
        on_token: Callable[[float], None] | None,
        keep_text: bool,
    ) -> bool:
        status_line = await reader.readline()
        if not status_line:
            raise ConnectionResetError("the server closed the connection")
        result.status = int(status_line.split(None, 2)[1])
        headers: dict[bytes, bytes] = {}
        while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip().lower()
        if b"retry-after" in headers:
            result.retry_after = headers[b"retry-after"].decode(errors="replace")
        events = _EventReader(result, on_token, keep_text)
        if headers.get(b"transfer-encoding") == b"chunked":
            while True:
                size_line = await reader.readuntil(b"\r\n")
                size = int(size_line[:-2].split(b";")[0], 16)
                if size == 0:
                    await reader.readuntil(b"\r\n")  # no trailers here
                    break
                chunk = await reader.readexactly(size + 2)
                events.feed(chunk[:-2])
        elif b"content-length" in headers:
            events.feed(await reader.readexactly(int(headers[b"content-length"])))
        else:
            events.feed(await reader.read())
            headers[b"connection"] = b"close"
        result.latency = time.perf_counter() - result.start
        if result.status != 200:
            result.error = f"HTTP {result.status}: {events.raw()[:300]!r}"
        elif result.error is None and result.tokens == 0:
            result.error = "no content token in the answer"
        return headers.get(b"connection") != b"close"


class _EventReader:
    """Splits server-sent events out of body bytes and counts content tokens."""

    def __init__(
        self,
        result: StreamResult,
        on_token: Callable[[float], None] | None,
        keep_text: bool,
    ) -> None:
        self.result = result
        self.on_token = on_token
        self.keep_text = keep_text
        self._buffer = b""
        self._seen = bytearray()

    def raw(self) -> bytes:
        return bytes(self._seen + self._buffer)

    def feed(self, data: bytes) -> None:
        if self.result.status != 200:
            self._seen += data
            return
        self._buffer += data
        while (end := self._buffer.find(b"\n\n")) >= 0:
            event, self._buffer = self._buffer[:end], self._buffer[end + 2 :]
            if event == b"data: [DONE]":
                self.result.done = True
            elif event.startswith(b"data: "):
                self._event(json.loads(event[6:]))

    def _event(self, payload: dict[str, Any]) -> None:
        result = self.result
        if "error" in payload:
            result.error = str(payload["error"])[:300]
        choices = payload.get("choices")
        if choices:
            choice = choices[0]
            delta = choice.get("delta")
            text = delta.get("content") if delta is not None else choice.get("text")
            if text:
                now = time.perf_counter()
                if result.tokens == 0:
                    result.ttft = now - result.start
                result.tokens += 1
                if self.keep_text:
                    result.text.append(text)
                    result.token_times.append(now)
                if self.on_token is not None:
                    self.on_token(now)
        usage = payload.get("usage")
        if usage:
            result.usage_tokens = usage.get("completion_tokens")


@dataclass
class LoadResult:
    """What ``closed_loop`` measured: the requests that started after the warm-up."""

    samples: list[StreamResult]
    errors: list[str]
    window_s: float
    tokens_in_window: int  # content tokens that arrived between warm-up and deadline
    tokens_total: int  # content tokens that arrived at all, warm-up and drain included
    wall_s: float

    @property
    def tokens_per_s(self) -> float:
        return self.tokens_in_window / self.window_s if self.window_s > 0 else math.nan


async def closed_loop(
    host: str,
    port: int,
    path: str,
    body: bytes,
    *,
    concurrency: int,
    warmup_s: float,
    duration_s: float,
    stagger_s: float = 0.0,
    request_timeout_s: float = 60.0,
    max_requests: int = 100_000,
    seed: int = 0,
    headers: dict[str, str] | None = None,
) -> LoadResult:
    """``concurrency`` workers, each sending a request as soon as its last one ended.

    Requests that start in the first ``warmup_s`` are not recorded; no request starts
    after ``warmup_s + duration_s`` or beyond ``max_requests`` in all; each is cut after
    ``request_timeout_s``. Each worker starts after a random delay of up to ``stagger_s``
    (seeded), so that with a fixed inter-token gap the streams neither start nor send
    their tokens in lockstep, as independent users would not.
    """
    started = time.perf_counter()
    measure_from = started + warmup_s
    deadline = measure_from + duration_s
    samples: list[StreamResult] = []
    errors: list[str] = []
    tokens = {"window": 0, "total": 0}
    budget = {"left": max_requests}

    def on_token(now: float) -> None:
        tokens["total"] += 1
        if measure_from <= now < deadline:
            tokens["window"] += 1

    rng = random.Random(seed)
    offsets = [rng.uniform(0, stagger_s) for _ in range(concurrency)]

    async def worker(index: int) -> None:
        await asyncio.sleep(offsets[index])
        async with Connection(host, port, headers) as connection:
            while time.perf_counter() < deadline and budget["left"] > 0:
                budget["left"] -= 1
                try:
                    async with asyncio.timeout(request_timeout_s):
                        result = await connection.stream(path, body, on_token=on_token)
                except TimeoutError:
                    errors.append(f"timed out after {request_timeout_s} s")
                    continue
                if result.error is not None:
                    errors.append(result.error)
                elif result.start >= measure_from:
                    samples.append(result)

    await asyncio.gather(*(worker(index) for index in range(concurrency)))
    return LoadResult(
        samples=samples,
        errors=errors,
        window_s=duration_s,
        tokens_in_window=tokens["window"],
        tokens_total=tokens["total"],
        wall_s=time.perf_counter() - started,
    )
