"""A backend of our own interface that plays a script: the core's and the surfaces' unit
tests use it to control timing, failures and the end of a stream exactly."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping

from liftoff.api.backends.base import (
    Backend,
    Embeddings,
    Finish,
    GenerationEvent,
    GenerationRequest,
    ModelInfo,
    TextDelta,
    TokenLogprob,
    Usage,
)
from liftoff.api.backends.wire import OPENAI_NAMES, sampling_fields
from liftoff.api.errors import ServiceError


class ScriptedBackend(Backend):
    """Yields ``pauses``-separated tokens: ``pauses[i]`` seconds before token ``i``, then a
    Finish with 1 prompt token; or, with ``fail``, raises it instead of finishing; or, with
    ``finish=False``, just stops. Sampling options are honoured as a backend whose names for
    them are ``names`` (OpenAI's by default) would: the ones it lacks are refused. With
    ``logprobs`` asked for, token ``i`` has log probability ``-(i + 1) / 4`` and as many
    alternatives as asked (``alt1``, ``alt2``, ...). Every request is kept in ``requests``."""

    name = "scripted"

    def __init__(
        self,
        pauses: list[float],
        *,
        fail: ServiceError | None = None,
        finish: bool = True,
        names: Mapping[str, str] = OPENAI_NAMES,
    ) -> None:
        self.pauses = pauses
        self.names = names
        self.fail = fail
        self.finish = finish
        self.started = False
        self.closed = False
        self.requests: list[GenerationRequest] = []

    async def check_ready(self) -> None:
        return None

    async def list_models(self) -> list[ModelInfo]:
        return [ModelInfo("m")]

    async def generate(self, request: GenerationRequest) -> AsyncIterator[GenerationEvent]:
        sampling_fields(request.options, self.names, backend=self.name)
        self.requests.append(request)
        self.started = True
        top = request.options.logprobs
        try:
            for index, pause in enumerate(self.pauses):
                await asyncio.sleep(pause)
                token = f"t{index}"
                if top is None:
                    yield TextDelta(token)
                    continue
                value = -(index + 1) / 4
                alternatives = tuple(TokenLogprob(f"alt{k}", value - k) for k in range(1, top + 1))
                yield TextDelta(token, 0, (TokenLogprob(token, value, None, alternatives),))
            if self.fail is not None:
                raise self.fail
            if self.finish:
                yield Finish("stop", Usage(1, len(self.pauses)))
        finally:
            self.closed = True

    async def embed(
        self,
        model: str,
        inputs: list[str],
        *,
        truncate: bool = False,
        keep_alive: str | float | None = None,
    ) -> Embeddings:
        return Embeddings([[0.0] for _ in inputs], 0)
