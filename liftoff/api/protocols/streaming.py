"""Turning a stream of generation events into bytes on the wire.

Once the first byte has gone out the status code is fixed, so a failure after that point
travels inside the stream in the protocol's own error shape, and the stream then ends
cleanly (OpenAI's ``data: [DONE]``, or the last NDJSON line).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from json.encoder import encode_basestring_ascii
from typing import Protocol

from liftoff.api.backends.base import Finish, GenerationEvent, TextDelta
from liftoff.api.errors import ServiceError

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


class StreamFormat(Protocol):
    def delta(self, text: str) -> bytes: ...

    def finish(self, finish: Finish) -> bytes: ...

    def error(self, error: ServiceError) -> bytes: ...

    def end(self) -> bytes: ...


async def encode_stream(
    events: AsyncIterator[GenerationEvent], wire: StreamFormat
) -> AsyncIterator[bytes]:
    try:
        async for event in events:
            if isinstance(event, TextDelta):
                yield wire.delta(event.text)
            else:
                yield wire.finish(event)
    except ServiceError as exc:
        logger.warning("stream ended by %s: %s", type(exc).__name__, exc.message)
        yield wire.error(exc)
    except Exception:
        logger.exception("stream failed")
        yield wire.error(ServiceError("the gateway failed while streaming; see its log"))
    yield wire.end()
