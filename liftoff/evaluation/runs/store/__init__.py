"""Where runs live: one small async interface, and SQLite behind it.

Everything that keeps runs (the executor, the service's routes, reports, ``liftoff eval``)
talks to :class:`RunStore`; :class:`~liftoff.evaluation.runs.store.sqlite.SQLiteRunStore`
implements it. Another database (Postgres for replicas) is another implementation of the
same methods, with the same guarantees:

- a run and all its examples are created atomically: a rejected request leaves nothing;
- every generated output is committed the moment it arrives, so an interrupted run resumes
  with only the examples that have no output yet;
- records come back as the models of ``liftoff.evaluation.runs.model``, progress included.

    >>> store = await SQLiteRunStore.open(Path("runs.sqlite3"))        # doctest: +SKIP
    >>> run = await store.create_run(spec, examples, origin="cli")      # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from liftoff.evaluation.runs.dataset import Example
from liftoff.evaluation.runs.model import (
    CorpusScores,
    Distribution,
    ExampleRecord,
    ExampleStatus,
    Generation,
    Run,
    RunSpec,
    RunStatus,
)

__all__ = ["RunStore", "now"]


class RunStore(Protocol):
    """Runs and their examples. Raises :class:`~liftoff.evaluation.runs.errors.RunNotFound`
    for an unknown run id, :class:`~liftoff.evaluation.runs.errors.StoreError` when the store
    cannot be used at all; other storage failures surface as the database's own errors."""

    async def create_run(self, spec: RunSpec, examples: Sequence[Example], *, origin: str) -> Run:
        """Insert a queued run and all its examples atomically; ``spec`` names its model."""
        ...

    async def get_run(self, run_id: str) -> Run: ...

    async def list_runs(self, *, limit: int = 50, offset: int = 0) -> list[Run]:
        """Runs, newest first, each with its progress (one query, whatever the limit)."""
        ...

    async def unfinished_runs(self, origin: str) -> list[str]:
        """Ids of runs from ``origin`` that were queued, generating or scoring, oldest first."""
        ...

    async def set_status(
        self, run_id: str, status: RunStatus, *, error: str | None = None
    ) -> Run: ...

    async def examples(
        self,
        run_id: str,
        *,
        statuses: Iterable[ExampleStatus] | None = None,
        offset: int = 0,
        limit: int | None = None,
    ) -> list[ExampleRecord]:
        """A run's examples in dataset order, optionally only those in ``statuses``."""
        ...

    async def record_output(self, run_id: str, example_id: str, generation: Generation) -> None:
        """Commit one generated output at once: this is what a resumed run does not redo."""
        ...

    async def record_failure(self, run_id: str, example_id: str, error: str) -> None: ...

    async def record_scores(
        self, run_id: str, scores: CorpusScores, per_example: Mapping[str, Mapping[str, float]]
    ) -> Run:
        """Store the corpus scores and each example's (by example id); the run is completed."""
        ...

    async def distribution(self, run_id: str, metric: str, *, bins: int) -> Distribution | None:
        """How the run's examples scored on ``metric`` (None when none was scored with it):
        a report needs these numbers, not 100,000 whole examples."""
        ...

    async def worst_examples(
        self, run_id: str, metric: str, count: int, *, higher_is_better: bool
    ) -> list[ExampleRecord]:
        """The ``count`` examples with the worst ``metric`` score, worst first (ties in
        dataset order)."""
        ...

    async def check_writable(self) -> None:
        """Take the write lock and let go: raises ``StoreError`` when the store is read-only,
        locked for longer than its timeout, or gone."""
        ...

    async def close(self) -> None: ...


def now() -> str:
    """UTC time as ISO 8601 with milliseconds (sorts as text)."""
    stamp = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(stamp)) + f".{int(stamp % 1 * 1000):03d}Z"
