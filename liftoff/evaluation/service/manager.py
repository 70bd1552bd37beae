"""Runs in the background of the service: started by requests, resumed after a restart.

Each run is one asyncio task: generate (outputs committed one by one), then score in the
scoring pool, then store the scores. Shutting down cancels the tasks and leaves the runs
``generating``: the next start resumes them (``LIFTOFF_EVAL_RESUME_ON_START``), generating
only the examples without an output.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from liftoff.evaluation.config import Settings
from liftoff.evaluation.errors import EvaluationError, InvalidInput
from liftoff.evaluation.metrics import score
from liftoff.evaluation.runs import runner
from liftoff.evaluation.runs.compare import Comparison, compare
from liftoff.evaluation.runs.dataset import Example, parse_jsonl, parse_rows
from liftoff.evaluation.runs.model import ExampleRecord, LoadedRun, RunRecord
from liftoff.evaluation.runs.store import Generation, RunStore
from liftoff.evaluation.runs.target import Target
from liftoff.evaluation.service.observability import EvaluationMetrics
from liftoff.evaluation.service.schemas import RunCreate
from liftoff.evaluation.service.scoring import ScoringPool
from liftoff.server.context import logged_request
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
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._keys: dict[str, str | None] = {}  # keys given with requests: memory only

    def target(self, base_url: str | None, api_key: str | None) -> Target:
        settings = self.settings
        return Target(
            base_url or settings.target,
            api_key=api_key or _secret(settings),
            retries=settings.retries,
            timeout=settings.request_timeout,
            probe_timeout=settings.probe_timeout,
        )

    async def create(
        self,
        examples: Sequence[Example],
        run_settings: runner.RunSettings,
        *,
        base_url: str | None,
        api_key: str | None,
    ) -> RunRecord:
        """Probe the target, store the run, start generating; raises before storing anything."""
        target = self.target(base_url, api_key)
        try:
            run = await runner.create_run(self.store, examples, target, run_settings, origin=ORIGIN)
        except BaseException:
            await target.close()
            raise
        self._keys[run.id] = api_key
        self._start(run.id, target)
        return run

    def resume(self, run_id: str, api_key: str | None = None) -> RunRecord:
        """Continue a failed or interrupted run: only examples without output are generated."""
        run = self.store.get_run(run_id)
        if run_id in self._tasks:
            raise Conflict(f"run {run_id} is already {run.status}")
        if run.status == "completed":
            raise Conflict(f"run {run_id} is already completed")
        key = api_key or self._keys.get(run_id)
        self._start(run_id, self.target(run.spec.target, key))
        return self.store.get_run(run_id)

    def resume_unfinished(self) -> list[str]:
        """Restart the runs a previous process left unfinished."""
        run_ids = self.store.unfinished_runs(ORIGIN)
        for run_id in run_ids:
            run = self.store.get_run(run_id)
            logger.info(
                "resuming run %s: %d of %d examples already generated",
                run_id,
                run.progress.done,
                run.progress.total,
                extra={"run_id": run_id},
            )
            self._start(run_id, self.target(run.spec.target, None))
        return run_ids

    async def compare(self, baseline_id: str, candidate_id: str) -> Comparison:
        baseline, candidate = self.load(baseline_id), self.load(candidate_id)
        return await self.pool.run(compare, baseline, candidate)

    def load(self, run_id: str) -> LoadedRun:
        return LoadedRun(self.store.get_run(run_id), tuple(self.store.examples(run_id)))

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _start(self, run_id: str, target: Target) -> None:
        task = asyncio.create_task(self._drive(run_id, target), name=f"run {run_id}")
        self._tasks[run_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(run_id, None))

    async def _drive(self, run_id: str, target: Target) -> None:
        # The task runs in a copy of the creating request's context: its logs carry its id.
        caller = logged_request.get()
        request_id = caller.request_id if caller is not None else ""
        self.metrics.active_runs.inc()
        try:
            run = await runner.generate(self.store, run_id, target, on_result=self._observe)
            if run.status == "scoring":
                job = runner.scoring_job(self.store, run_id)
                started = time.perf_counter()
                results = await self.pool.run(score, *job.arguments())
                self.metrics.scoring_seconds.labels("runs").observe(time.perf_counter() - started)
                self.metrics.scored_examples.labels("runs").inc(len(job.positions))
                run = runner.finish(self.store, job, results)
            self.metrics.runs.labels(run.status).inc()
        except asyncio.CancelledError:
            logger.info("run %s interrupted; it resumes at the next start", run_id,
                        extra={"run_id": run_id})  # fmt: skip
            raise
        except (EvaluationError, ServiceError) as exc:  # WordNet missing, a worker died
            runner.fail(self.store, run_id, exc.message)
            self.metrics.runs.labels("failed").inc()
        except Exception as exc:
            logger.exception("run %s crashed", run_id, extra={"run_id": run_id,
                             "request_id": request_id})  # fmt: skip
            runner.fail(self.store, run_id, f"internal error: {exc}")
            self.metrics.runs.labels("failed").inc()
        finally:
            self.metrics.active_runs.dec()
            await target.close()

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


def _secret(settings: Settings) -> str | None:
    key = settings.target_api_key
    return key.get_secret_value() if key is not None else None


def prepare(body: RunCreate, settings: Settings) -> tuple[list[Example], runner.RunSettings]:
    """The dataset's examples and the run's settings from a request; raises ``InvalidInput``."""
    if isinstance(body.dataset, str):
        examples = parse_jsonl(body.dataset, max_examples=settings.max_examples)
    else:
        examples = parse_rows(body.dataset, max_examples=settings.max_examples)
    concurrency = body.concurrency or settings.concurrency
    if concurrency > settings.max_concurrency:
        raise InvalidInput(
            f"concurrency {concurrency} is over this service's limit of {settings.max_concurrency}",
            param="concurrency",
        )
    run_settings = runner.RunSettings(
        model=body.target.model or settings.model or None,
        metrics=body.metrics,
        endpoint=body.target.endpoint,
        generation=body.generation,
        options=body.options,
        concurrency=concurrency,
        name=body.name,
        dataset=body.dataset_name,
    )
    return examples, run_settings
