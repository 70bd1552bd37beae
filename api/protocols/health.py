"""Liveness and readiness: ``/healthz`` (the process lives), ``/readyz`` (the model serves)."""

from __future__ import annotations

from fastapi import APIRouter

from api.backends.base import Backend
from api.deps import BackendDep

router = APIRouter(tags=["health"])


async def readiness(backend: Backend) -> dict[str, str]:
    """Raises ``BackendUnavailable`` (503 with Retry-After) until the backend can serve."""
    await backend.check_ready()
    return {"status": "ready", "backend": backend.name}


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(backend: BackendDep) -> dict[str, str]:
    """The backend answers and the model is loaded; 503 otherwise."""
    return await readiness(backend)
