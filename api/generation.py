"""What every protocol surface does with a generation, whatever its wire shape.

- checks the limits that do not depend on the protocol (max tokens);
- bounds each wait on the backend by the configured timeout (a slow backend is a 504,
  not a hung client);
- starts a stream before the first byte is sent, so errors known up front (unknown model,
  prompt too long, backend down) become proper HTTP errors instead of in-stream ones.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator

from api.backends.base import (
    Backend,
    Completion,
    GenerationEvent,
    GenerationRequest,
    TextDelta,
)
from api.errors import BackendError, BackendTimeout, InvalidRequest


class Generator:
    """Runs generations on a backend with the gateway's limits and timeouts.

    >>> generator = Generator(backend, timeout=30, max_tokens_limit=4096)
    >>> events = await generator.stream(request, max_tokens_field="max_tokens")
    >>> async for event in events: ...
    """

    def __init__(self, backend: Backend, *, timeout: float, max_tokens_limit: int) -> None:
        self.backend = backend
        self.timeout = timeout
        self.max_tokens_limit = max_tokens_limit

    async def stream(
        self, request: GenerationRequest, *, max_tokens_field: str
    ) -> AsyncIterator[GenerationEvent]:
        """Start a generation; raises ``GatewayError`` if it fails before its first event."""
        self._check_limits(request, max_tokens_field)
        events = self._with_timeout(self.backend.generate(request))
        try:
            first = await anext(events)
        except StopAsyncIteration:
            raise BackendError(f"the {self.backend.name} backend produced nothing") from None
        except BaseException:
            await events.aclose()
            raise
        return _prepend(first, events)

    async def complete(self, request: GenerationRequest, *, max_tokens_field: str) -> Completion:
        events = await self.stream(request, max_tokens_field=max_tokens_field)
        parts: list[str] = []
        async for event in events:
            if isinstance(event, TextDelta):
                parts.append(event.text)
            else:
                return Completion("".join(parts), event.reason, event.usage)
        raise BackendError(f"the {self.backend.name} backend ended without finishing")

    def _check_limits(self, request: GenerationRequest, max_tokens_field: str) -> None:
        max_tokens = request.options.max_tokens
        if max_tokens is not None and max_tokens > self.max_tokens_limit:
            raise InvalidRequest(
                f"{max_tokens_field} is {max_tokens}, above this gateway's limit of "
                f"{self.max_tokens_limit} (LIFTOFF_MAX_TOKENS_LIMIT)",
                param=max_tokens_field,
            )

    async def _with_timeout(
        self, events: AsyncIterator[GenerationEvent]
    ) -> AsyncGenerator[GenerationEvent, None]:
        try:
            while True:
                try:
                    async with asyncio.timeout(self.timeout):
                        event = await anext(events)
                except StopAsyncIteration:
                    return
                except TimeoutError:
                    raise BackendTimeout(
                        f"the {self.backend.name} backend sent nothing for {self.timeout:g} s "
                        "(LIFTOFF_REQUEST_TIMEOUT)"
                    ) from None
                yield event
        finally:
            # Closing the backend's stream is what cancels the upstream generation.
            await _aclose(events)


async def _prepend(
    first: GenerationEvent, rest: AsyncGenerator[GenerationEvent, None]
) -> AsyncIterator[GenerationEvent]:
    try:
        yield first
        async for event in rest:
            yield event
    finally:
        await rest.aclose()


async def _aclose(events: AsyncIterator[GenerationEvent]) -> None:
    aclose = getattr(events, "aclose", None)
    if aclose is not None:
        await aclose()
