"""Turning a stream of generation events into bytes on the wire.

Once the first byte has gone out the status code is fixed, so a failure after that point
travels inside the stream in the protocol's own error shape, and the stream then ends
cleanly (OpenAI's ``data: [DONE]``, or the last NDJSON line).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Protocol

from api.backends.base import Finish, GenerationEvent, TextDelta
from api.errors import GatewayError

logger = logging.getLogger(__name__)


class StreamFormat(Protocol):
    def delta(self, text: str) -> bytes: ...

    def finish(self, finish: Finish) -> bytes: ...

    def error(self, error: GatewayError) -> bytes: ...

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
    except GatewayError as exc:
        logger.warning("stream ended by %s: %s", type(exc).__name__, exc.message)
        yield wire.error(exc)
    except Exception:
        logger.exception("stream failed")
        yield wire.error(GatewayError("the gateway failed while streaming; see its log"))
    yield wire.end()
