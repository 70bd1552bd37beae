"""Operations: ``/healthz`` (the process lives), ``/readyz`` (the model serves), ``/metrics``."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from liftoff.api.backends.base import Backend
from liftoff.api.deps import BackendDep
from liftoff.api.errors import BackendUnavailable
from liftoff.api.lifecycle import Lifecycle
from liftoff.api.protocols.errors import OLLAMA_ERRORS
from liftoff.server.observability import metrics_response

router = APIRouter(tags=["health"], responses=OLLAMA_ERRORS)


async def readiness(backend: Backend, lifecycle: Lifecycle) -> dict[str, str]:
    """Raises ``BackendUnavailable`` (503 with Retry-After) until the backend can serve,
    and again from the moment the gateway starts shutting down."""
    if lifecycle.draining:
        raise BackendUnavailable("the gateway is shutting down")
    await backend.check_ready()
    return {"status": "ready", "backend": backend.name}


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request, backend: BackendDep) -> dict[str, str]:
    """The backend answers and the model is loaded; 503 otherwise."""
    return await readiness(backend, request.app.state.lifecycle)


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Prometheus metrics."""
    return metrics_response(request)
