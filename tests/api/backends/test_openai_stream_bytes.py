"""The ``openai`` backend reads server-sent events from raw bytes (aiohttp): events split
across TCP writes, several in one write, CRLF line ends, a last line without its newline,
and error answers, from a loopback server that writes exactly the bytes given."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Sequence

import pytest

from liftoff.api.backends.base import Finish, GenerationRequest, TextDelta, collect
from liftoff.api.backends.openai import OpenAIBackend
from liftoff.api.errors import InvalidRequest


def _event(payload: dict[str, object]) -> bytes:
    return b"data: " + json.dumps(payload).encode()


def _delta(text: str) -> dict[str, object]:
    return {"choices": [{"index": 0, "text": text, "finish_reason": None}]}  # /v1/completions


USAGE = {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}}

# GET /v1/models, which the backend asks once to learn whether the server is llama.cpp's.
MODELS = json.dumps({"object": "list", "data": [{"id": "m", "object": "model"}]}).encode()
MODELS_ANSWER = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
    b"Content-Length: %d\r\n\r\n" % len(MODELS) + MODELS
)


def _asks_models(head: bytes) -> bool:
    return head.startswith(b"GET ") and b"/models" in head.split(b"\r\n", 1)[0]


async def _serve(status: str, writes: Sequence[bytes]) -> AsyncIterator[str]:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if _asks_models(await reader.readuntil(b"\r\n\r\n")):
            writer.write(MODELS_ANSWER)
            writer.close()
            return
        writer.write(
            f"HTTP/1.1 {status}\r\nContent-Type: text/event-stream\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        for part in writes:
            writer.write(part)
            await writer.drain()
            await asyncio.sleep(0.01)  # each part its own TCP segment
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"http://127.0.0.1:{port}/v1"


async def _generate(base_url: str) -> list[object]:
    backend = OpenAIBackend(base_url, model="m", api_key=None)
    try:
        request = GenerationRequest(model="m", prompt="hi")
        return [event async for event in backend.generate(request)]
    finally:
        await backend.close()


async def test_events_split_and_joined_across_writes_are_read_whole() -> None:
    first, second = _event(_delta("Hel")), _event(_delta("lo"))
    writes = [
        first[:9],  # an event cut inside its JSON
        first[9:] + b"\r\n\r\n" + second + b"\n\n" + _event(USAGE)[:5],
        _event(USAGE)[5:],  # the last line without a newline
    ]
    async for url in _serve("200 OK", writes):
        events = await _generate(url)
    assert events[:2] == [TextDelta("Hel"), TextDelta("lo")]
    finish = events[2]
    assert isinstance(finish, Finish)
    assert (finish.usage.prompt_tokens, finish.usage.completion_tokens) == (3, 2)


async def test_an_error_answer_keeps_the_servers_message() -> None:
    body = json.dumps({"error": {"message": "temperature is out of range"}}).encode()
    async for url in _serve("400 Bad Request", [body]):
        with pytest.raises(InvalidRequest, match="temperature is out of range"):
            await _generate(url)


async def test_collect_reads_a_whole_answer() -> None:
    writes = [_event(_delta("ok")) + b"\n\n" + _event(USAGE) + b"\n\ndata: [DONE]\n\n"]
    async for url in _serve("200 OK", writes):
        backend = OpenAIBackend(url, model="m", api_key=None)
        try:
            completion = await collect(backend.generate(GenerationRequest(model="m", prompt="x")))
        finally:
            await backend.close()
    assert completion.text == "ok"


async def test_a_pooled_connection_the_server_closed_is_retried_on_a_fresh_one() -> None:
    # Found by the contract suite (test_top_k_of_one_is_greedy[openai]): llama.cpp's server
    # closes a connection right after a streamed answer without saying so, and the next
    # generation, sent on it from the pool, failed with "Can not write request body" (a
    # ClientOSError, which the retry did not cover). This server does the same.
    answer_bytes = _event(_delta("ok")) + b"\n\n" + _event(USAGE) + b"\n\ndata: [DONE]\n\n"
    generations = 0

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal generations
        with contextlib.closing(writer):
            head = await reader.readuntil(b"\r\n\r\n")
            if _asks_models(head):
                writer.write(MODELS_ANSWER)
                return
            length = next(
                int(line.split(b":")[1])
                for line in head.lower().splitlines()
                if line.startswith(b"content-length:")
            )
            await reader.readexactly(length)
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                b"Content-Length: %d\r\n\r\n" % len(answer_bytes) + answer_bytes
            )
            await writer.drain()
            generations += 1
            writer.transport.abort()  # no "Connection: close": the client pools it

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        backend = OpenAIBackend(f"http://127.0.0.1:{port}/v1", model="m", api_key=None)
        try:
            for _ in range(3):
                request = GenerationRequest(model="m", prompt="x")
                assert (await collect(backend.generate(request))).text == "ok"
        finally:
            await backend.close()
    assert generations == 3
