"""Operations: ``/healthz`` (the process lives), ``/readyz`` (WordNet loaded, store
writable), ``/metrics`` (Prometheus)."""

from __future__ import annotations

import sqlite3

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.errors import BackendUnavailable
from api.protocols.docs import OpenAIError, error_responses
from evaluation.service.deps import MetricsDep, PoolDep, StoreDep

router = APIRouter(tags=["health"], responses=error_responses(OpenAIError))


class NotReady(BackendUnavailable):
    error_type = "not_ready"


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
        store.check_writable()
    except sqlite3.Error as exc:
        raise NotReady(f"the run store {store.path} is not writable: {exc}") from exc
    return {"status": "ready", "store": str(store.path)}


@router.get("/metrics", include_in_schema=False)
async def metrics(metrics: MetricsDep) -> Response:
    """Prometheus metrics."""
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
