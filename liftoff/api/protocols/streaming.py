"""Turning a generation into a surface's response: a stream of bytes, or the whole answer.

Once the first byte has gone out the status code is fixed, so a failure after that point
travels inside the stream in the protocol's own error shape, and the stream then ends
cleanly (OpenAI's ``data: [DONE]``, or the last NDJSON line). A failure before it is an
HTTP error. Either way the error names the field as the surface does (``Wire.fields``).

A whole answer (no stream) is generated only while its client waits: when the client
disconnects, the generation is cancelled (``liftoff.server.disconnect``), as a stream's is
when its response is abandoned.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from json.encoder import encode_basestring_ascii
from typing import Any, Protocol

from fastapi import Request
from fastapi.responses import StreamingResponse

from liftoff.api.backends.base import Completion, Finish, GenerationRequest, TextDelta, ToolCall
from liftoff.api.errors import ServiceError
from liftoff.api.generation import GenerationStream, Generator
from liftoff.api.protocols.errors import FieldNames
from liftoff.server.context import RequestInfo
from liftoff.server.disconnect import unless_disconnected

logger = logging.getLogger(__name__)


# Stands for the text in a chunk encoded once as a template (see ``json_template``).
TEXT_MARK = "\u2063liftoff-text\u2063"
_ENCODED_MARK = encode_basestring_ascii(TEXT_MARK).encode()


def json_template(encoded: bytes, marks: int = 1) -> list[bytes]:
    """Split a chunk encoded with ``TEXT_MARK`` in place of its variable strings into the
    constant pieces around them; join them with ``json_string`` values to encode a chunk."""
    pieces = encoded.split(_ENCODED_MARK)
    if len(pieces) != marks + 1:
        raise ValueError(f"the template holds {len(pieces) - 1} text marks, not {marks}")
    return pieces


def json_string(text: str) -> bytes:
    """``text`` as a JSON string (C-accelerated, ASCII-safe)."""
    return encode_basestring_ascii(text).encode()


class Wire(Protocol):
    """One surface's wire format for one generation."""

    @property
    def media_type(self) -> str:
        """Of the stream."""

    @property
    def headers(self) -> Mapping[str, str] | None:
        """Of the stream."""

    @property
    def fields(self) -> FieldNames:
        """The surface's names for the request's fields, in its errors."""

    def delta(self, event: TextDelta) -> bytes:
        """One piece of an answer (``event.choice``), with its log probabilities if any."""

    def tool_call(self, call: ToolCall) -> bytes: ...

    def finish(self, finish: Finish) -> bytes: ...

    def error(self, error: ServiceError) -> bytes: ...

    def end(self) -> bytes: ...

    def whole(self, completion: Completion) -> dict[str, Any]: ...


async def respond(
    generator: Generator,
    request: GenerationRequest,
    caller: RequestInfo,
    wire: Wire,
    *,
    stream: bool,
    connection: Request,
) -> dict[str, Any] | StreamingResponse:
    """``request`` generated for ``caller``, as ``wire``'s stream or whole answer; the whole
    answer is cancelled if ``connection``'s client leaves first."""
    if not stream:
        work = complete(generator, request, caller, wire.fields)
        return wire.whole(await unless_disconnected(connection, work))
    try:
        events = await generator.start(request, caller)
    except ServiceError as exc:
        wire.fields.rename(exc)
        raise
    return StreamingResponse(
        encode_stream(events, wire), media_type=wire.media_type, headers=wire.headers
    )


async def complete(
    generator: Generator, request: GenerationRequest, caller: RequestInfo, fields: FieldNames
) -> Completion:
    """``request`` generated whole for ``caller``; errors name fields by ``fields``."""
    try:
        return await (await generator.start(request, caller)).collect()
    except ServiceError as exc:
        fields.rename(exc)
        raise


async def encode_stream(events: GenerationStream, wire: Wire) -> AsyncIterator[bytes]:
    try:
        async for event in events:
            if isinstance(event, TextDelta):
                yield wire.delta(event)
            elif isinstance(event, ToolCall):
                yield wire.tool_call(event)
            else:
                yield wire.finish(event)
    except ServiceError as exc:
        logger.warning("stream ended by %s: %s", type(exc).__name__, exc.message)
        wire.fields.rename(exc)
        yield wire.error(exc)
    except Exception:
        logger.exception("stream failed")
        yield wire.error(ServiceError("the gateway failed while streaming; see its log"))
    finally:
        # Also when the response is abandoned mid-stream (the client went away while a
        # chunk was being sent): the generation and its slot end with this generator.
        await events.aclose()
    yield wire.end()
