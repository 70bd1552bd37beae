"""Runs: create, follow, list examples, report, compare, resume.

Answers are the models' own JSON (``model_dump_json``, encoded by pydantic's serializer):
the response models below document them and are not applied again.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from liftoff.evaluation.metrics import METRICS, canonical_metrics
from liftoff.evaluation.runs.compare import Comparison
from liftoff.evaluation.runs.model import Run
from liftoff.evaluation.service.deps import ManagerDep, SettingsDep, StoreDep
from liftoff.evaluation.service.errors import ERRORS
from liftoff.evaluation.service.manager import prepare
from liftoff.evaluation.service.schemas import ExampleList, ResumeRequest, RunCreate, RunList
from liftoff.server.disconnect import unless_disconnected

router = APIRouter(prefix="/v1/runs", tags=["runs"], responses=ERRORS)
# SQLite's integers are 64-bit; no store holds anywhere near this many rows.
MAX_OFFSET = 2**31 - 1


def _json(
    model: BaseModel, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        model.model_dump_json(), status_code=status_code, headers=headers,
        media_type="application/json",
    )  # fmt: skip


@router.post("", status_code=202, response_model=Run)
async def create_run(body: RunCreate, manager: ManagerDep, settings: SettingsDep) -> Response:
    """Start a run: the target is probed first, so a bad URL, key or model is a 400 at once."""
    examples, spec = await prepare(body, settings)
    api_key = body.target.api_key.get_secret_value() if body.target.api_key else None
    run = await manager.create(examples, spec, api_key=api_key)
    return _json(run, 202, {"Location": f"/v1/runs/{run.id}"})


@router.get("", response_model=RunList)
async def list_runs(
    store: StoreDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Response:
    """Runs, newest first."""
    return _json(RunList(data=await store.list_runs(limit=limit, offset=offset)))


@router.get("/{run_id}", response_model=Run)
async def get_run(run_id: str, store: StoreDep) -> Response:
    """Status, progress and, once completed, corpus scores with intervals and signatures."""
    return _json(await store.get_run(run_id))


@router.get("/{run_id}/examples", response_model=ExampleList)
async def get_examples(
    run_id: str,
    store: StoreDep,
    status: Literal["pending", "done", "failed"] | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Response:
    """Examples in dataset order: input, references, prediction, per-example scores."""
    total = (await store.get_run(run_id)).progress.total
    records = await store.examples(
        run_id, statuses=None if status is None else (status,), offset=offset, limit=limit
    )
    return _json(ExampleList(total=total, offset=offset, data=records))


@router.get("/{run_id}/report", response_class=HTMLResponse)
async def get_report(
    run_id: str,
    manager: ManagerDep,
    worst: Annotated[int, Query(ge=1, le=1000)] = 10,
    metric: Annotated[str | None, Query(json_schema_extra={"enum": list(METRICS)})] = None,
) -> HTMLResponse:
    """A self-contained HTML page: scores, their distributions and the worst examples."""
    rank_by = canonical_metrics([metric])[0] if metric else None
    return HTMLResponse(await manager.report(run_id, worst=worst, metric=rank_by))


@router.get("/{baseline_id}/compare/{candidate_id}", response_model=Comparison)
async def compare_runs(
    baseline_id: str, candidate_id: str, request: Request, manager: ManagerDep
) -> Response:
    """Per-metric delta (candidate - baseline) with a paired bootstrap 95% interval; stops
    when the client leaves and after LIFTOFF_EVAL_SCORE_TIMEOUT seconds (504)."""
    return _json(await unless_disconnected(request, manager.compare(baseline_id, candidate_id)))


@router.post("/{run_id}/resume", status_code=202, response_model=Run)
async def resume_run(run_id: str, body: ResumeRequest, manager: ManagerDep) -> Response:
    """Continue a failed or interrupted run; only examples without output are generated.
    The body is JSON (``{}`` without a key), as every request to this service."""
    api_key = body.api_key.get_secret_value() if body.api_key else None
    return _json(await manager.resume(run_id, api_key), 202)
