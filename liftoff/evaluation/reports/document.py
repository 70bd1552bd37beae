"""A run as one JSON document (``liftoff eval run --json``), and back.

The document holds the run (as ``GET /v1/runs/{id}`` shows it), every example with its
prediction and scores, the gate and regression checks, and the comparison with a baseline.
It can serve as the ``--baseline`` of a later run: examples pair up by id.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from liftoff.evaluation.errors import InvalidInput
from liftoff.evaluation.metrics import METRICS, ScoreOptions
from liftoff.evaluation.runs.compare import Comparison
from liftoff.evaluation.runs.dataset import Example, Message
from liftoff.evaluation.runs.gates import Check
from liftoff.evaluation.runs.model import (
    CorpusScore,
    ExampleRecord,
    GenerationParams,
    LoadedRun,
    Progress,
    RunRecord,
    RunSpec,
)

OBJECT = "evaluation.report"


def run_document(
    loaded: LoadedRun,
    checks: Sequence[Check] = (),
    comparison: Comparison | None = None,
) -> dict[str, Any]:
    return {
        "object": OBJECT,
        "passed": all(check.passed for check in checks) and loaded.run.status == "completed",
        "run": loaded.run.to_json(),
        "checks": [check.to_json() for check in checks],
        "comparison": comparison.to_json() if comparison is not None else None,
        "examples": [record.to_json() for record in loaded.examples],
    }


def load_run_document(path: Path) -> LoadedRun:
    """A run from a document ``run_document`` wrote; raises ``InvalidInput`` naming the file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"cannot read the baseline {path}: {exc}", param="baseline") from exc
    if not isinstance(data, dict) or data.get("object") != OBJECT:
        raise InvalidInput(
            f"{path} is not a run document (written by `liftoff eval run --json`)",
            param="baseline",
        )
    try:
        return LoadedRun(
            run=_run(data["run"]),
            examples=tuple(_example(i, row) for i, row in enumerate(data["examples"])),
        )
    except (KeyError, TypeError, ValueError, ValidationError) as exc:
        raise InvalidInput(f"{path} is not a valid run document: {exc}", param="baseline") from exc


def _run(data: dict[str, Any]) -> RunRecord:
    corpus = data.get("corpus") or {}
    intervals = data.get("confidence_intervals") or {}
    signatures = data.get("signatures") or {}
    return RunRecord(
        id=data["id"],
        spec=RunSpec(
            target=data["target"]["base_url"],
            model=data["target"]["model"],
            endpoint=data["target"]["endpoint"],
            generation=GenerationParams.model_validate(data["generation"]),
            metrics=tuple(data["metrics"]),
            options=ScoreOptions.model_validate(data["options"]),
            concurrency=data["concurrency"],
            name=data.get("name"),
            dataset=data.get("dataset"),
        ),
        status=data["status"],
        origin=data["origin"],
        created_at=data["created_at"],
        updated_at=data["updated_at"],
        progress=Progress(
            total=data["progress"]["total"],
            done=data["progress"]["done"],
            failed=data["progress"]["failed"],
        ),
        error=data.get("error"),
        corpus={
            name: CorpusScore(
                score=float(value),
                signature=signatures.get(name, ""),
                scale=METRICS[name].scale,
                ci_low=intervals[name]["low"] if name in intervals else None,
                ci_high=intervals[name]["high"] if name in intervals else None,
            )
            for name, value in corpus.items()
        },
    )


def _example(position: int, row: dict[str, Any]) -> ExampleRecord:
    messages = row.get("messages")
    return ExampleRecord(
        position=position,
        example=Example(
            id=str(row["id"]),
            references=tuple(row["references"]),
            prompt=row.get("prompt"),
            messages=tuple(Message(m["role"], m["content"]) for m in messages)
            if messages is not None
            else None,
            metadata=row.get("metadata") or {},
        ),
        status=row["status"],
        output=row.get("prediction"),
        error=row.get("error"),
        attempts=row.get("attempts", 0),
        latency_s=row.get("latency_s"),
        prompt_tokens=row.get("prompt_tokens"),
        completion_tokens=row.get("completion_tokens"),
        finish_reason=row.get("finish_reason"),
        generated_at=row.get("generated_at"),
        scores=row.get("scores"),
    )
