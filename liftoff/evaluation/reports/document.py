"""A run as one JSON document (``liftoff eval run --json``), and back.

The document holds the run (as ``GET /v1/runs/{id}`` shows it), every example with its
prediction and scores, the gate and regression checks, and the comparison with a baseline.
It can serve as the ``--baseline`` of a later run: examples pair up by id.

    {"object": "evaluation.report", "passed": true, "run": {...}, "checks": [...],
     "comparison": {...} | null, "examples": [{"id", "prompt", "references", "prediction",
     "scores", ...}, ...]}
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from liftoff.evaluation.errors import InvalidInput
from liftoff.evaluation.runs.compare import Comparison
from liftoff.evaluation.runs.gates import Check
from liftoff.evaluation.runs.model import ExampleRecord, LoadedRun, Run


class RunDocument(BaseModel):
    """The document's model: ``model_dump_json()`` writes it, ``model_validate_json`` reads
    it (fields a newer Liftoff adds are ignored)."""

    model_config = ConfigDict(frozen=True)

    object: Literal["evaluation.report"] = "evaluation.report"
    passed: bool
    run: Run
    checks: list[Check] = []
    comparison: Comparison | None = None
    examples: list[ExampleRecord]


def run_document(
    loaded: LoadedRun, checks: list[Check] | None = None, comparison: Comparison | None = None
) -> RunDocument:
    """The document of a run; it passes when the run completed and every check passed."""
    checks = checks or []
    return RunDocument(
        run=loaded.run,
        examples=loaded.examples,
        passed=all(check.passed for check in checks) and loaded.run.status == "completed",
        checks=checks,
        comparison=comparison,
    )


def load_run_document(path: Path) -> LoadedRun:
    """A run from a document ``run_document`` wrote; raises ``InvalidInput`` naming the file."""
    try:
        text = path.read_bytes()
    except OSError as exc:  # a directory, no permission
        raise InvalidInput(f"cannot read the baseline {path}: {exc}", param="baseline") from exc
    try:
        document = RunDocument.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the document"
        if first["loc"] == ("object",) or first["type"] in ("json_invalid", "model_type"):
            problem = "is not a run document (written by `liftoff eval run --json`)"
        else:
            problem = f"is not a valid run document: {where}: {first['msg']}"
        raise InvalidInput(f"{path} {problem}", param="baseline") from exc
    return LoadedRun(run=document.run, examples=document.examples)
