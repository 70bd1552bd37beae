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
    Usage,
)
from liftoff.api.backends.wire import OPENAI_NAMES, sampling_fields
from liftoff.api.errors import ServiceError


class ScriptedBackend(Backend):
    """Yields ``pauses``-separated tokens: ``pauses[i]`` seconds before token ``i``, then a
    Finish with 1 prompt token; or, with ``fail``, raises it instead of finishing; or, with
    ``finish=False``, just stops. Sampling options are honoured as a backend whose names for
    them are ``names`` (OpenAI's by default) would: the ones it lacks are refused."""

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

    async def check_ready(self) -> None:
        return None

    async def list_models(self) -> list[ModelInfo]:
        return [ModelInfo("m")]

    async def generate(self, request: GenerationRequest) -> AsyncIterator[GenerationEvent]:
        sampling_fields(request.options, self.names, backend=self.name)
        self.started = True
        try:
            for index, pause in enumerate(self.pauses):
                await asyncio.sleep(pause)
                yield TextDelta(f"t{index}")
            if self.fail is not None:
                raise self.fail
            if self.finish:
                yield Finish("stop", Usage(1, len(self.pauses)))
        finally:
            self.closed = True

    async def embed(self, model: str, inputs: list[str], *, truncate: bool = False) -> Embeddings:
        return Embeddings([[0.0] for _ in inputs], 0)
