"""One run from start to end, for the service and ``liftoff eval run`` alike.

    executor = RunExecutor(store, scorer)
    run = await executor.create(examples, spec, target, origin="cli")
    run = await executor.execute(run.id, target)     # generate, then score

1. :meth:`~RunExecutor.create` checks the dataset against the endpoint, spells the metrics
   canonically, probes the target (so a wrong URL, key or model is refused before anything
   is stored) and stores the queued run.
2. :meth:`~RunExecutor.generate` sends every example without an output yet, at most
   ``concurrency`` at a time, committing each output as it arrives: a crash loses only the
   requests in flight.
3. :meth:`~RunExecutor.score` hands predictions, references, the citations of each answer
   and the passages that answer each question to the scorer (a worker process in the
   service, this process in the CLI) and stores the scores.

A run that cannot go on ends ``failed`` with the reason (examples that could not be
generated, WordNet missing, a scoring worker that died); resuming it continues where it
stopped. Cancelling a step leaves the run as it was, for the next start to resume.

Each step holds the run's lease (``liftoff.evaluation.runs.lease``) and every write names
its owner, so no two processes on one store ever work on the same run: a second one gets
``RunBusy``, and a holder whose lease was taken over stops with ``LeaseLost``, leaving the
run to its new owner.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from liftoff.evaluation.errors import EvaluationError
from liftoff.evaluation.metrics import (
    Citation,
    Passage,
    Score,
    ScoreOptions,
    canonical_metrics,
    check_applicable,
)
from liftoff.evaluation.runs.dataset import Example
from liftoff.evaluation.runs.errors import DatasetError, LeaseLost
from liftoff.evaluation.runs.lease import DEFAULT_SECONDS, held, new_owner
from liftoff.evaluation.runs.model import (
    CorpusScores,
    ExampleRecord,
    Generation,
    Interval,
    Run,
    RunSpec,
)
from liftoff.evaluation.runs.store import Lease, RunStore
from liftoff.evaluation.runs.target import GenerationFailed, Target

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScoringJob:
    """The inputs of scoring a run, in dataset order."""

    run_id: str
    example_ids: tuple[str, ...]
    predictions: tuple[str, ...]
    references: tuple[tuple[str, ...], ...]
    metrics: tuple[str, ...]
    options: ScoreOptions
    retrieved: tuple[tuple[Citation, ...], ...] = ()
    passages: tuple[tuple[Passage, ...] | None, ...] = ()

    def arguments(
        self,
    ) -> tuple[
        list[str],
        list[list[str]],
        list[str],
        ScoreOptions,
        list[tuple[Citation, ...]] | None,
        list[tuple[Passage, ...] | None] | None,
    ]:
        """``liftoff.evaluation.metrics.score``'s positional arguments."""
        return (
            list(self.predictions),
            [list(refs) for refs in self.references],
            list(self.metrics),
            self.options,
            list(self.retrieved) if self.retrieved else None,
            list(self.passages) if self.passages else None,
        )


Scorer = Callable[[ScoringJob], Awaitable[Mapping[str, Score]]]
"""Scores a job (``liftoff.evaluation.metrics.score`` wherever the caller runs it)."""

OnResult = Callable[[ExampleRecord, Generation | None, str | None], None]
"""Called after each example: the record as it was, then the generation or the error."""


class RunExecutor:
    """Creates, generates and scores runs kept in ``store``; ``scorer`` does the scoring.

    ``lease`` names this process as the owner of the runs it works on (default: a new name,
    leases of 30 s); one executor per process is the intended use.
    """

    def __init__(self, store: RunStore, scorer: Scorer, *, lease: Lease | None = None) -> None:
        self.store = store
        self.scorer = scorer
        self.lease = lease or Lease(new_owner(), DEFAULT_SECONDS)

    async def create(
        self, examples: Sequence[Example], spec: RunSpec, target: Target, *, origin: str
    ) -> Run:
        """Validate, probe the target, and store the queued run with all its examples.

        Raises ``InvalidInput`` (an unknown metric, a retrieval metric no row can be scored
        on, a messages row for the completions endpoint) or ``TargetError`` before anything
        is stored.
        """
        metrics = canonical_metrics(spec.metrics)
        check_applicable(metrics, [example.passages for example in examples], param="dataset")
        if spec.target.endpoint == "completions":
            for example in examples:
                if example.messages is not None:
                    raise DatasetError(
                        f"example {example.id!r} has messages, which need the chat endpoint "
                        "(endpoint 'chat' or 'auto'), not 'completions'",
                        param="dataset",
                    )
        model = await target.probe(spec.target.model)
        resolved = spec.model_copy(
            update={
                "target": spec.target.model_copy(
                    update={"base_url": target.base_url, "model": model}
                ),
                "metrics": metrics,
            }
        )
        run = await self.store.create_run(resolved, examples, origin=origin, lease=self.lease)
        logger.info(
            "created run %s: %d examples, %s at %s",
            run.id,
            len(examples),
            model,
            target.base_url,
            extra={"run_id": run.id},
        )
        return run

    async def execute(
        self, run_id: str, target: Target, *, on_result: OnResult | None = None
    ) -> Run:
        """Generate what is missing, then score: the run ends ``completed`` or ``failed``
        (a run another process completed meanwhile is returned as it is). Raises
        ``RunBusy`` when another process holds the run, ``LeaseLost`` when it takes it over."""
        async with held(self.store, run_id, self.lease):
            run = await self.store.get_run(run_id)
            if run.status == "completed":
                return run
            run = await self._generate(run_id, target, on_result)
            if run.status == "scoring":
                run = await self._score(run_id)
            return run

    async def generate(
        self, run_id: str, target: Target, *, on_result: OnResult | None = None
    ) -> Run:
        """Generate every example without an output (pending, or failed before); the run
        becomes ``scoring``, or ``failed`` when examples still failed after the retries."""
        async with held(self.store, run_id, self.lease):
            return await self._generate(run_id, target, on_result)

    async def _generate(self, run_id: str, target: Target, on_result: OnResult | None) -> Run:
        owner = self.lease.owner
        try:
            run = await self.store.set_status(run_id, "generating", owner=owner)
            todo = await self.store.examples(run_id, statuses=("pending", "failed"))
            if todo:
                logger.info(
                    "generating %d of %d examples of run %s",
                    len(todo),
                    run.progress.total,
                    run_id,
                    extra={"run_id": run_id},
                )
            queue = iter(todo)  # shared by the workers: each example goes to one of them

            async def worker() -> None:
                for record in queue:
                    await self._generate_one(run, record, target, on_result)

            async with asyncio.TaskGroup() as workers:
                for _ in range(min(run.concurrency, len(todo))):
                    workers.create_task(worker())
            run = await self.store.get_run(run_id)
            if not run.progress.failed:
                return await self.store.set_status(run_id, "scoring", owner=owner)
            first = (await self.store.examples(run_id, statuses=("failed",), limit=1))[0]
            error = (
                f"{run.progress.failed} of {run.progress.total} examples could not be "
                f"generated (first: {first.id!r}: {first.error}); resume the run to retry them"
            )
            return await self.store.set_status(run_id, "failed", error=error, owner=owner)
        except Exception as exc:
            return await self._fail(run_id, exc)

    async def _generate_one(
        self, run: Run, record: ExampleRecord, target: Target, on_result: OnResult | None
    ) -> None:
        try:
            generation = await target.generate(
                record, run.target.model, run.target.endpoint, run.generation
            )
        except GenerationFailed as exc:
            await self.store.record_failure(run.id, record.id, str(exc), owner=self.lease.owner)
            logger.warning(
                "run %s: example %s failed: %s", run.id, record.id, exc, extra={"run_id": run.id}
            )
            if on_result is not None:
                on_result(record, None, str(exc))
            return
        await self.store.record_output(run.id, record.id, generation, owner=self.lease.owner)
        if on_result is not None:
            on_result(record, generation, None)

    async def score(self, run_id: str) -> Run:
        """Score every example and store the scores: the run is ``completed``."""
        async with held(self.store, run_id, self.lease):
            return await self._score(run_id)

    async def _score(self, run_id: str) -> Run:
        try:
            job = await self.scoring_job(run_id)
            results = await self.scorer(job)
            scores, per_example = _stored_scores(results, job.example_ids)
            run = await self.store.record_scores(
                run_id, scores, per_example, owner=self.lease.owner
            )
        except Exception as exc:
            return await self._fail(run_id, exc)
        logger.info(
            "run %s completed: %s",
            run_id,
            ", ".join(f"{name} {value:.4g}" for name, value in run.scores.items()),
            extra={"run_id": run_id},
        )
        return run

    async def scoring_job(self, run_id: str) -> ScoringJob:
        run = await self.store.get_run(run_id)
        records = await self.store.examples(run_id)
        unfinished = [r.id for r in records if r.status != "done"]
        if unfinished:
            raise ValueError(f"run {run_id} has examples without output: {unfinished[:5]}")
        return ScoringJob(
            run_id=run_id,
            example_ids=tuple(r.id for r in records),
            predictions=tuple(r.prediction or "" for r in records),
            references=tuple(r.references for r in records),
            metrics=run.metrics,
            options=run.options,
            retrieved=tuple(r.citations or () for r in records),
            passages=tuple(r.passages for r in records),
        )

    async def _fail(self, run_id: str, exc: Exception) -> Run:
        if isinstance(exc, ExceptionGroup):  # from the generating workers' task group
            causes = exc.exceptions
            lost = next((cause for cause in causes if isinstance(cause, LeaseLost)), None)
            if lost is not None:
                raise lost from None
            if len(causes) == 1 and isinstance(causes[0], Exception):
                exc = causes[0]
        if isinstance(exc, LeaseLost):  # not a failure of the run: its new owner goes on
            raise exc
        if isinstance(exc, EvaluationError):
            error = exc.message
            logger.error("run %s failed: %s", run_id, error, extra={"run_id": run_id})
        else:
            error = f"internal error: {exc}"
            logger.error("run %s crashed", run_id, exc_info=exc, extra={"run_id": run_id})
        return await self.store.set_status(run_id, "failed", error=error, owner=self.lease.owner)


def _stored_scores(
    results: Mapping[str, Score], example_ids: Sequence[str]
) -> tuple[CorpusScores, dict[str, dict[str, float]]]:
    """The metrics library's results as a run keeps them: corpus scores, and each example's
    scores with ROUGE's components as ``<metric>_<component>`` (a metric that does not apply
    to an example has no score there)."""
    per_example: dict[str, dict[str, float]] = {example_id: {} for example_id in example_ids}
    for name, result in results.items():
        for example_id, value in zip(example_ids, result.per_example, strict=True):
            if value is not None:
                per_example[example_id][name] = value
        for component, values in result.components.items():
            for example_id, value in zip(example_ids, values, strict=True):
                per_example[example_id][f"{name}_{component}"] = value
    intervals = {
        name: Interval(low=result.ci.low, high=result.ci.high, level=result.ci.level)
        for name, result in results.items()
        if result.ci is not None
    }
    scores = CorpusScores(
        corpus={name: result.corpus for name, result in results.items()},
        confidence_intervals=intervals or None,
        signatures={name: result.signature for name, result in results.items()},
    )
    return scores, per_example
