"""Operations: ``/healthz`` (the process lives), ``/readyz`` (the model serves), ``/metrics``."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from liftoff.api.deps import GeneratorDep
from liftoff.api.errors import BackendUnavailable
from liftoff.api.generation import Generator
from liftoff.api.lifecycle import Lifecycle
from liftoff.api.protocols.errors import OLLAMA_ERRORS
from liftoff.server.observability import metrics_response

router = APIRouter(tags=["health"], responses=OLLAMA_ERRORS)


async def readiness(generator: Generator, lifecycle: Lifecycle) -> dict[str, str]:
    """Raises ``BackendUnavailable`` (503 with Retry-After) until the backend can serve,
    and again from the moment the gateway starts shutting down."""
    if lifecycle.draining:
        raise BackendUnavailable("the gateway is shutting down")
    await generator.check_ready()
    return {"status": "ready", "backend": generator.backend_name}


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request, generator: GeneratorDep) -> dict[str, str]:
    """The backend answers and the model is loaded; 503 otherwise."""
    return await readiness(generator, request.app.state.lifecycle)


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Prometheus metrics."""
    return metrics_response(request)
