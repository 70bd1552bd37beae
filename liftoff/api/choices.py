"""Several answers to one request (OpenAI's ``n``), on any backend: the core runs that many
generations of the request at once and merges them into one stream.

Each generation is the request with one choice; with a ``seed``, choice ``i`` samples with
``seed + i``, so the answers differ from each other (repeatable as far as the engine is: llama.cpp
batches concurrent generations together, which can tip a near-tied sample).
Usage counts the prompt once, as OpenAI does, and the answers' tokens together.

    events = several_choices(backend, request)   # request.choices == 3
    # TextDelta(choice=0 | 1 | 2)..., then Finish(reasons=(r0, r1, r2))
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

from liftoff.api.backends.base import (
    Backend,
    Finish,
    GenerationEvent,
    GenerationRequest,
    TextDelta,
    Usage,
)
from liftoff.api.errors import BackendError

_ENDED = object()  # a generation's events are over


async def several_choices(
    backend: Backend, request: GenerationRequest
) -> AsyncIterator[GenerationEvent]:
    """``request.choices`` generations of ``request`` at once, as one stream; closing it
    (or a failure of any of them) closes them all."""
    count = request.choices
    queue: asyncio.Queue[tuple[int, object]] = asyncio.Queue()

    async def pump(choice: int, events: AsyncIterator[GenerationEvent]) -> None:
        try:
            async for event in events:
                queue.put_nowait((choice, event))
            queue.put_nowait((choice, _ENDED))
        except Exception as exc:  # handed to the consumer, which raises it
            queue.put_nowait((choice, exc))
        finally:
            close = getattr(events, "aclose", None)
            if close is not None:
                await close()

    tasks = [
        asyncio.create_task(pump(choice, backend.generate(_one(request, choice))))
        for choice in range(count)
    ]
    finishes: dict[int, Finish] = {}
    try:
        while len(finishes) < count:
            choice, item = await queue.get()
            if isinstance(item, TextDelta):
                yield replace(item, choice=choice) if choice else item
            elif isinstance(item, Finish):
                finishes[choice] = item
            elif isinstance(item, Exception):
                raise item
            elif choice not in finishes:
                raise BackendError(f"the {backend.name} backend ended without finishing")
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    ordered = [finishes[choice] for choice in range(count)]
    yield Finish(ordered[0].reason, _usage(ordered), tuple(f.reason for f in ordered))


def _one(request: GenerationRequest, choice: int) -> GenerationRequest:
    seed = request.options.seed
    options = request.options if seed is None else replace(request.options, seed=seed + choice)
    return replace(request, choices=1, options=options)


def _usage(finishes: list[Finish]) -> Usage:
    first = finishes[0].usage
    durations = [f.usage.generation_duration_ns for f in finishes]
    return Usage(
        prompt_tokens=first.prompt_tokens,
        completion_tokens=sum(f.usage.completion_tokens for f in finishes),
        prompt_duration_ns=first.prompt_duration_ns,
        generation_duration_ns=max((d for d in durations if d is not None), default=None),
    )
