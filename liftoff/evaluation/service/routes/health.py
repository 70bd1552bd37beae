"""Operations: ``/healthz`` (the process lives), ``/readyz`` (WordNet loaded, store
writable), ``/metrics`` (Prometheus)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from liftoff.evaluation.runs.errors import StoreError
from liftoff.evaluation.service.deps import PoolDep, StoreDep
from liftoff.evaluation.service.errors import ERRORS, NotReady
from liftoff.server.observability import metrics_response

router = APIRouter(tags=["health"], responses=ERRORS)


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(pool: PoolDep, store: StoreDep) -> dict[str, str]:
    """A scoring worker has WordNet loaded and the store takes writes; 503 otherwise."""
    problem = pool.readiness()
    if problem is not None:
        raise NotReady(problem)
    try:
        await store.check_writable()
    except StoreError as exc:
        raise NotReady(exc.message) from exc
    return {"status": "ready", "store": store.describe()}


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Prometheus metrics."""
    return metrics_response(request)
