"""Runs: create, follow, list examples, report, compare, resume."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from fastapi.responses import HTMLResponse, JSONResponse

from liftoff.evaluation.reports.html import render_report
from liftoff.evaluation.runs.model import canonical_metrics
from liftoff.evaluation.service.deps import ManagerDep, SettingsDep, StoreDep
from liftoff.evaluation.service.errors import ERRORS
from liftoff.evaluation.service.manager import prepare
from liftoff.evaluation.service.schemas import ResumeRequest, RunCreate

router = APIRouter(prefix="/v1/runs", tags=["runs"], responses=ERRORS)
# SQLite's integers are 64-bit; no store holds anywhere near this many rows.
MAX_OFFSET = 2**31 - 1


@router.post("", status_code=202)
async def create_run(body: RunCreate, manager: ManagerDep, settings: SettingsDep) -> JSONResponse:
    """Start a run: the target is probed first, so a bad URL, key or model is a 400 at once."""
    examples, run_settings = prepare(body, settings)
    api_key = body.target.api_key.get_secret_value() if body.target.api_key else None
    run = await manager.create(
        examples, run_settings, base_url=body.target.base_url, api_key=api_key
    )
    return JSONResponse(run.to_json(), status_code=202, headers={"Location": f"/v1/runs/{run.id}"})


@router.get("")
async def list_runs(
    store: StoreDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> dict[str, Any]:
    """Runs, newest first."""
    runs = store.list_runs(limit=limit, offset=offset)
    return {"object": "list", "data": [run.to_json() for run in runs]}


@router.get("/{run_id}")
async def get_run(run_id: str, store: StoreDep) -> dict[str, Any]:
    """Status, progress and, once completed, corpus scores with intervals and signatures."""
    return store.get_run(run_id).to_json()


@router.get("/{run_id}/examples")
async def get_examples(
    run_id: str,
    store: StoreDep,
    status: Literal["pending", "done", "failed"] | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> dict[str, Any]:
    """Examples in dataset order: input, references, prediction, per-example scores."""
    total = store.get_run(run_id).progress.total
    records = store.examples(
        run_id, statuses=None if status is None else (status,), offset=offset, limit=limit
    )
    return {
        "object": "list",
        "total": total,
        "offset": offset,
        "data": [record.to_json() for record in records],
    }


@router.get("/{run_id}/report", response_class=HTMLResponse)
async def get_report(
    run_id: str,
    manager: ManagerDep,
    worst: Annotated[int, Query(ge=1, le=1000)] = 10,
    metric: str | None = None,
) -> HTMLResponse:
    """A self-contained HTML page: scores, their distributions and the worst examples."""
    rank_by = canonical_metrics([metric])[0] if metric else None
    return HTMLResponse(render_report(manager.load(run_id), worst=worst, metric=rank_by))


@router.get("/{baseline_id}/compare/{candidate_id}")
async def compare_runs(baseline_id: str, candidate_id: str, manager: ManagerDep) -> dict[str, Any]:
    """Per-metric delta (candidate - baseline) with a paired bootstrap 95% interval."""
    return (await manager.compare(baseline_id, candidate_id)).to_json()


@router.post("/{run_id}/resume", status_code=202)
async def resume_run(
    run_id: str, manager: ManagerDep, body: ResumeRequest | None = None
) -> Response:
    """Continue a failed or interrupted run; only examples without output are generated."""
    api_key = body.api_key.get_secret_value() if body and body.api_key else None
    return JSONResponse(manager.resume(run_id, api_key).to_json(), status_code=202)
