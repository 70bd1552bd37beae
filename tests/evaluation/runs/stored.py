"""Completed runs put straight into a store (no generation): for store, compare and report tests."""

from __future__ import annotations

from collections.abc import Sequence

from liftoff.evaluation.metrics import score
from liftoff.evaluation.runs import runner
from liftoff.evaluation.runs.dataset import Example
from liftoff.evaluation.runs.model import RunRecord, RunSpec
from liftoff.evaluation.runs.store import Generation, RunStore

FAST = ("bleu", "chrf", "ter", "rouge1", "rougeL")


def examples(references: Sequence[Sequence[str]], prefix: str = "ex") -> list[Example]:
    return [
        Example(id=f"{prefix}{i}", prompt=f"prompt {i}", references=tuple(refs))
        for i, refs in enumerate(references)
    ]


def completed_run(
    store: RunStore,
    rows: Sequence[Example],
    predictions: Sequence[str],
    metrics: Sequence[str] = FAST,
    *,
    origin: str = "test",
) -> RunRecord:
    spec = RunSpec(target="http://127.0.0.1:9/v1", model="m", metrics=tuple(metrics))
    run = store.create_run(spec, rows, origin=origin)
    for position, prediction in enumerate(predictions):
        store.record_output(run.id, position, Generation(prediction, latency_s=0.01))
    job = runner.scoring_job(store, run.id)
    return runner.finish(store, job, score(*job.arguments()))
