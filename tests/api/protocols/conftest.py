"""The gateway app in this process with a scripted backend: the surfaces' own behaviour,
timed and failed exactly, without a model."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import httpx
import pytest

from liftoff.api.app import create_app
from liftoff.api.backends.base import Backend
from liftoff.api.config import Settings
from liftoff.api.generation import Generator, Limits
from liftoff.api.limits import ConcurrencyLimiter


@dataclass
class Gateway:
    client: httpx.AsyncClient
    slots: ConcurrencyLimiter  # one generation slot, no queue


ServeBackend = Callable[..., Gateway]


@pytest.fixture
async def serve_backend() -> AsyncIterator[ServeBackend]:
    """``serve_backend(backend, max_tokens=20)``: the gateway app, its core running
    ``backend`` under those ``Limits``, and a client that calls it in this process."""
    clients: list[httpx.AsyncClient] = []

    def serve(backend: Backend, **limits: float) -> Gateway:
        # Explicit, so that no LIFTOFF_* variable of the shell turns keys on; without keys
        # the gateway answers only requests addressed to a loopback name.
        app = create_app(Settings(auth="off", host="127.0.0.1"))
        slots = ConcurrencyLimiter(1, queue=0, queue_timeout=1)
        app.state.generator = Generator(
            backend, Limits(**limits), concurrency=slots, metrics=app.state.metrics
        )
        transport = httpx.ASGITransport(app)
        clients.append(httpx.AsyncClient(transport=transport, base_url="http://localhost"))
        return Gateway(clients[-1], slots)

    yield serve
    for client in clients:
        await client.aclose()
