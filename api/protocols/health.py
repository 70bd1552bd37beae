"""Operations: ``/healthz`` (the process lives), ``/readyz`` (the model serves), ``/metrics``."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.backends.base import Backend
from api.deps import BackendDep
from api.errors import BackendUnavailable
from api.lifecycle import Lifecycle
from api.protocols.docs import OllamaError, error_responses

router = APIRouter(tags=["health"], responses=error_responses(OllamaError))


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
    registry = request.app.state.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
