"""Runs in the background of the service: started by requests, resumed after a restart.

Each run is one asyncio task driving the shared executor (``liftoff.evaluation.runs.executor``):
generate (outputs committed one by one), then score in the scoring pool. Shutting down
cancels the tasks and leaves the runs ``generating``, their leases given up: the next start
resumes them (``LIFTOFF_EVAL_RESUME_ON_START``), generating only the examples without an
output.

Several replicas may share one store (Postgres, or one SQLite file on one machine). Each run
is worked on by the replica holding its lease (``liftoff.evaluation.runs.lease``): the one
that created or resumed it. Every replica looks for runs nobody holds, at start and every
third of ``LIFTOFF_EVAL_LEASE_SECONDS``, and adopts them: a replica that died or was scaled
away loses its runs to the others once its leases lapse. A run adopted elsewhere sends the
service's configured target key (a key given with the request stays in the memory of the
replica that received it).

Nothing here blocks the event loop: the store works on its own threads, datasets are parsed
and reports rendered in a thread, scores and comparisons are computed in the scoring pool.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence

from liftoff.evaluation.config import Settings
from liftoff.evaluation.errors import InvalidInput
from liftoff.evaluation.metrics import Score, score
from liftoff.evaluation.reports.html import load_report, render_report
from liftoff.evaluation.runs.compare import Comparison, compare
from liftoff.evaluation.runs.dataset import Example, parse_jsonl, parse_rows
from liftoff.evaluation.runs.errors import LeaseLost, RunBusy, ScoringFailed, TargetError
from liftoff.evaluation.runs.executor import RunExecutor, ScoringJob
from liftoff.evaluation.runs.lease import new_owner
from liftoff.evaluation.runs.model import (
    ExampleRecord,
    Generation,
    LoadedRun,
    Run,
    RunSpec,
    TargetRef,
)
from liftoff.evaluation.runs.store import Lease, RunStore
from liftoff.evaluation.runs.target import Target
from liftoff.evaluation.service.observability import EvaluationMetrics
from liftoff.evaluation.service.schemas import RunCreate
from liftoff.evaluation.service.scoring import ScoringPool
from liftoff.evaluation.service.targets import TargetPolicy
from liftoff.server.errors import Conflict, ServiceError

logger = logging.getLogger(__name__)

ORIGIN = "service"


class RunManager:
    def __init__(
        self, store: RunStore, pool: ScoringPool, settings: Settings, metrics: EvaluationMetrics
    ) -> None:
        self.store = store
        self.pool = pool
        self.settings = settings
        self.metrics = metrics
        self.policy = TargetPolicy.from_settings(settings)
        self.lease = Lease(new_owner(), settings.lease_seconds)
        self.executor = RunExecutor(store, self._score, lease=self.lease)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._keys: dict[str, str | None] = {}  # keys given with requests: memory only
        self._adopting: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Adopt the runs nobody holds, now and from then on (when ``resume_on_start``)."""
        if self.settings.resume_on_start:
            self._adopting = asyncio.create_task(self._adopt_forever(), name="run adoption")

    def target(self, base_url: str, api_key: str | None) -> Target:
        """A client for ``base_url`` if runs may use it (``TargetPolicy``), with the key it
        gets; raises ``TargetError``."""
        return self.policy.client(self.policy.access(base_url, api_key), self.settings)

    async def create(
        self, examples: Sequence[Example], spec: RunSpec, *, api_key: str | None
    ) -> Run:
        """Probe the target, store the run, start generating; raises before storing anything
        (``StoreFull`` first of all, before the target is bothered)."""
        await self.store.check_writable()
        target = self.target(spec.target.base_url, api_key)
        try:
            run = await self.executor.create(examples, spec, target, origin=ORIGIN)
        except BaseException:
            await target.close()
            raise
        self._keys[run.id] = api_key
        self._start(run.id, target)
        return run

    async def resume(self, run_id: str, api_key: str | None = None) -> Run:
        """Continue a failed or interrupted run: only examples without output are generated.
        Raises ``RunBusy`` when another replica holds the run."""
        run = await self.store.get_run(run_id)
        if run_id in self._tasks:
            raise Conflict(f"run {run_id} is already {run.status}")
        if run.status == "completed":
            raise Conflict(f"run {run_id} is already completed")
        if not await self.store.acquire(run_id, self.lease):
            raise RunBusy(run_id, self.lease.seconds)
        key = api_key or self._keys.get(run_id)
        self._start(run_id, self.target(run.target.base_url, key))
        return run

    async def adopt(self) -> list[str]:
        """Take over the service's unfinished runs that no live lease holds (left by a crash,
        a restart or a replica gone) and continue them here; their ids."""
        adopted = []
        for run_id in await self.store.unowned_runs(ORIGIN):
            if run_id in self._tasks or not await self.store.acquire(run_id, self.lease):
                continue  # another replica was quicker
            run = await self.store.get_run(run_id)
            try:
                target = self.target(run.target.base_url, None)
            except TargetError as exc:  # the allow-list changed since the run started
                await self.store.set_status(
                    run_id, "failed", error=exc.message, owner=self.lease.owner
                )
                await self.store.release(run_id, self.lease.owner)
                logger.warning("run %s not resumed: %s", run_id, exc.message,
                               extra={"run_id": run_id})  # fmt: skip
                continue
            logger.info(
                "resuming run %s: %d of %d examples already generated",
                run_id,
                run.progress.done,
                run.progress.total,
                extra={"run_id": run_id},
            )
            self._start(run_id, target)
            adopted.append(run_id)
        return adopted

    async def _adopt_forever(self) -> None:
        while True:
            try:
                await self.adopt()
            except Exception as exc:  # the store is away: try again later
                logger.warning("could not look for runs to resume: %s", exc)
            await asyncio.sleep(self.lease.seconds / 3)

    async def compare(self, baseline_id: str, candidate_id: str) -> Comparison:
        baseline, candidate = await asyncio.gather(
            self._load(baseline_id), self._load(candidate_id)
        )
        return await self.pool.run(
            compare, baseline, candidate, timeout=self.settings.score_timeout
        )

    async def report(self, run_id: str, *, worst: int, metric: str | None) -> str:
        """The run's HTML report: read from the store, rendered in a thread."""
        report = await load_report(self.store, run_id, worst=worst, metric=metric)
        return await asyncio.to_thread(render_report, report)

    async def close(self) -> None:
        """Stop adopting, and interrupt the runs in progress (their leases are given up)."""
        tasks = list(self._tasks.values())
        if self._adopting is not None:
            tasks.append(self._adopting)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _load(self, run_id: str) -> LoadedRun:
        run = await self.store.get_run(run_id)
        return LoadedRun(run=run, examples=await self.store.examples(run_id))

    def _start(self, run_id: str, target: Target) -> None:
        task = asyncio.create_task(self._drive(run_id, target), name=f"run {run_id}")
        self._tasks[run_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(run_id, None))

    async def _drive(self, run_id: str, target: Target) -> None:
        # The task runs in a copy of the creating request's context: its logs carry its id.
        self.metrics.active_runs.inc()
        try:
            run = await self.executor.execute(run_id, target, on_result=self._observe)
            self.metrics.runs.labels(run.status).inc()
        except asyncio.CancelledError:
            logger.info("run %s interrupted; it resumes at the next start", run_id,
                        extra={"run_id": run_id})  # fmt: skip
            raise
        except (LeaseLost, RunBusy) as exc:  # another replica has the run: it goes on there
            logger.warning("%s", exc.message, extra={"run_id": run_id})
        except Exception:  # the store itself failed: the run stays as it was, resumable
            logger.exception("run %s stopped", run_id, extra={"run_id": run_id})
            self.metrics.runs.labels("failed").inc()
        finally:
            self.metrics.active_runs.dec()
            await target.close()

    async def _score(self, job: ScoringJob) -> Mapping[str, Score]:
        started = time.perf_counter()
        try:
            results = await self.pool.run(score, *job.arguments())
        except ServiceError as exc:  # a worker died
            raise ScoringFailed(exc.message) from exc
        self.metrics.scoring_seconds.labels("runs").observe(time.perf_counter() - started)
        self.metrics.scored_examples.labels("runs").inc(len(job.example_ids))
        return results

    def _observe(
        self, record: ExampleRecord, generation: Generation | None, error: str | None
    ) -> None:
        if generation is None:
            self.metrics.generations.labels("error").inc()
            return
        self.metrics.generations.labels("ok").inc()
        self.metrics.generation_seconds.observe(generation.latency_s)
        self.metrics.prompt_tokens.inc(generation.prompt_tokens or 0)
        self.metrics.completion_tokens.inc(generation.completion_tokens or 0)


async def prepare(body: RunCreate, settings: Settings) -> tuple[list[Example], RunSpec]:
    """The dataset's examples and the run's spec from a request (the dataset is parsed in a
    thread: 100,000 rows take seconds); raises ``InvalidInput``."""
    concurrency = body.concurrency or settings.concurrency
    if concurrency > settings.max_concurrency:
        raise InvalidInput(
            f"concurrency {concurrency} is over this service's limit of {settings.max_concurrency}",
            param="concurrency",
        )
    if isinstance(body.dataset, str):
        examples = await asyncio.to_thread(
            parse_jsonl, body.dataset, max_examples=settings.max_examples
        )
    else:
        examples = await asyncio.to_thread(
            parse_rows, body.dataset, max_examples=settings.max_examples
        )
    spec = RunSpec(
        name=body.name,
        dataset=body.dataset_name,
        target=TargetRef(
            base_url=body.target.base_url or settings.target,
            model=body.target.model or settings.model or None,
            endpoint=body.target.endpoint,
        ),
        generation=body.generation,
        concurrency=concurrency,
        metrics=tuple(body.metrics),
        options=body.options.library(),
    )
    return examples, spec
