"""A run from start to end, shared by the service and ``liftoff eval run``.

1. :func:`create_run` checks the dataset against the endpoint, probes the target (so a wrong
   URL, key or model is refused before anything is stored) and stores the queued run.
2. :func:`generate` sends every example without an output yet, at most ``concurrency`` at a
   time, committing each output as it arrives; a crash loses only requests in flight.
3. :func:`scoring_job` gathers predictions and references; the caller scores them where it
   likes (a worker process in the service, this process in the CLI) and hands the result to
   :func:`finish`.

    run = await create_run(store, examples, target, RunSettings(...), origin="cli")
    run = await generate(store, run.id, target)
    job = scoring_job(store, run.id)
    run = finish(store, job, score(*job.arguments()))
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from liftoff.evaluation.metrics import Score, ScoreOptions
from liftoff.evaluation.runs.dataset import Example
from liftoff.evaluation.runs.errors import DatasetError
from liftoff.evaluation.runs.model import (
    Endpoint,
    ExampleRecord,
    GenerationParams,
    RunRecord,
    RunSpec,
    canonical_metrics,
)
from liftoff.evaluation.runs.store import Generation, RunStore
from liftoff.evaluation.runs.target import GenerationFailed, Target

logger = logging.getLogger(__name__)

OnResult = Callable[[ExampleRecord, Generation | None, str | None], None]
"""Called after each example: the record as it was, the generation or the error."""


@dataclass(frozen=True)
class RunSettings:
    """What the caller chooses for a run; ``model`` None means the target's first model."""

    model: str | None
    metrics: Sequence[str]
    endpoint: Endpoint = "auto"
    generation: GenerationParams = field(default_factory=GenerationParams)
    options: ScoreOptions = field(default_factory=ScoreOptions)
    concurrency: int = 4
    name: str | None = None
    dataset: str | None = None


async def create_run(
    store: RunStore,
    examples: Sequence[Example],
    target: Target,
    settings: RunSettings,
    *,
    origin: str,
) -> RunRecord:
    """Validate, probe the target, and store the queued run with all its examples."""
    metrics = canonical_metrics(settings.metrics)
    if settings.endpoint == "completions":
        for example in examples:
            if example.messages is not None:
                raise DatasetError(
                    f"example {example.id!r} has messages, which need the chat endpoint "
                    "(endpoint 'chat' or 'auto'), not 'completions'",
                    param="dataset",
                )
    model = await target.probe(settings.model)
    spec = RunSpec(
        target=target.base_url,
        model=model,
        endpoint=settings.endpoint,
        generation=settings.generation,
        metrics=metrics,
        options=settings.options,
        concurrency=settings.concurrency,
        name=settings.name,
        dataset=settings.dataset,
    )
    run = store.create_run(spec, examples, origin=origin)
    logger.info(
        "created run %s: %d examples, %s at %s",
        run.id,
        len(examples),
        model,
        target.base_url,
        extra={"run_id": run.id},
    )
    return run


async def generate(
    store: RunStore, run_id: str, target: Target, *, on_result: OnResult | None = None
) -> RunRecord:
    """Generate every example without an output (pending, or failed before); returns the run,
    now ``scoring``, or ``failed`` when examples still failed after the client's retries."""
    run = store.get_run(run_id)
    spec = run.spec
    todo = store.examples(run_id, statuses=("pending", "failed"))
    store.set_status(run_id, "generating")
    if todo:
        logger.info(
            "generating %d of %d examples of run %s",
            len(todo),
            run.progress.total,
            run_id,
            extra={"run_id": run_id},
        )
    slots = asyncio.Semaphore(spec.concurrency)

    async def one(record: ExampleRecord) -> None:
        async with slots:
            try:
                generation = await target.generate(
                    record.example, spec.model, spec.endpoint, spec.generation
                )
            except GenerationFailed as exc:
                store.record_failure(run_id, record.position, str(exc))
                logger.warning(
                    "run %s: example %s failed: %s",
                    run_id,
                    record.example.id,
                    exc,
                    extra={"run_id": run_id},
                )
                if on_result is not None:
                    on_result(record, None, str(exc))
                return
        store.record_output(run_id, record.position, generation)
        if on_result is not None:
            on_result(record, generation, None)

    await asyncio.gather(*(one(record) for record in todo))
    progress = store.get_run(run_id).progress
    if progress.failed:
        first = store.examples(run_id, statuses=("failed",), limit=1)[0]
        store.set_status(
            run_id,
            "failed",
            error=f"{progress.failed} of {progress.total} examples could not be generated "
            f"(first: {first.example.id!r}: {first.error}); resume the run to retry them",
        )
    else:
        store.set_status(run_id, "scoring")
    return store.get_run(run_id)


@dataclass(frozen=True)
class ScoringJob:
    """The inputs of scoring a run, in dataset order."""

    run_id: str
    positions: tuple[int, ...]
    predictions: tuple[str, ...]
    references: tuple[tuple[str, ...], ...]
    metrics: tuple[str, ...]
    options: ScoreOptions

    def arguments(self) -> tuple[list[str], list[list[str]], list[str], ScoreOptions]:
        """``liftoff.evaluation.metrics.score``'s positional arguments."""
        return (
            list(self.predictions),
            [list(refs) for refs in self.references],
            list(self.metrics),
            self.options,
        )


def scoring_job(store: RunStore, run_id: str) -> ScoringJob:
    run = store.get_run(run_id)
    records = store.examples(run_id)
    unfinished = [r.example.id for r in records if r.status != "done"]
    if unfinished:
        raise ValueError(f"run {run_id} has examples without output: {unfinished[:5]}")
    return ScoringJob(
        run_id=run_id,
        positions=tuple(r.position for r in records),
        predictions=tuple(r.output or "" for r in records),
        references=tuple(r.example.references for r in records),
        metrics=run.spec.metrics,
        options=run.spec.options,
    )


def finish(store: RunStore, job: ScoringJob, results: Mapping[str, Score]) -> RunRecord:
    """Store the scores; the run is completed."""
    run = store.record_scores(job.run_id, results, job.positions)
    logger.info(
        "run %s completed: %s",
        job.run_id,
        ", ".join(f"{name} {score.score:.4g}" for name, score in run.corpus.items()),
        extra={"run_id": job.run_id},
    )
    return run


def fail(store: RunStore, run_id: str, error: str) -> RunRecord:
    store.set_status(run_id, "failed", error=error)
    logger.error("run %s failed: %s", run_id, error, extra={"run_id": run_id})
    return store.get_run(run_id)
