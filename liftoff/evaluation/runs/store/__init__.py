"""Where runs live: one small async interface, SQLite or Postgres behind it.

Everything that keeps runs (the executor, the service's routes, reports, ``liftoff eval``)
talks to :class:`RunStore`. Two implementations, with the same guarantees (and the same
tests, ``tests/evaluation/runs/test_store.py``): :class:`~.sqlite.SQLiteRunStore`, one file
(the zero-setup default), and :class:`~.postgres.PostgresRunStore`, one database that several
evaluation replicas share (``LIFTOFF_EVAL_DATABASE_URL``; Cloud SQL in the cloud).

- a run and all its examples are created atomically: a rejected request leaves nothing;
- every generated output is committed the moment it arrives, so an interrupted run resumes
  with only the examples that have no output yet;
- records come back as the models of ``liftoff.evaluation.runs.model``, progress included;
- a run has at most one owner at a time: the process holding its :class:`Lease`. Taking a
  lease is atomic (two processes racing for a run: one wins), a lease lapses ``seconds``
  after its last renewal (so a process that died loses its runs), and every write that
  names an ``owner`` is fenced: it raises ``LeaseLost`` instead of writing when another
  process has taken the run over. Lease times are the database's clock (Postgres) or the
  one machine's (SQLite), never compared across machines.

    >>> store = await open_store(Settings())                            # doctest: +SKIP
    >>> run = await store.create_run(spec, examples, origin="cli")      # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

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

if TYPE_CHECKING:
    from liftoff.evaluation.config import Settings

__all__ = ["Lease", "RunStore", "now", "open_store"]


@dataclass(frozen=True)
class Lease:
    """Who works on a run (``owner``: unique per process) and how long their claim lasts
    without a renewal (``seconds``)."""

    owner: str
    seconds: float


class RunStore(Protocol):
    """Runs and their examples. Raises :class:`~liftoff.evaluation.runs.errors.RunNotFound`
    for an unknown run id, :class:`~liftoff.evaluation.runs.errors.StoreError` when the store
    cannot be used at all (``StoreUnavailable``: the database does not answer), and
    :class:`~liftoff.evaluation.runs.errors.LeaseLost` from a write naming an ``owner`` that
    no longer holds the run; other storage failures surface as the database's own errors."""

    def describe(self) -> str:
        """Where the runs are, for logs and ``/readyz``: the SQLite file's path, or the
        database's URL without its password."""
        ...

    async def create_run(
        self,
        spec: RunSpec,
        examples: Sequence[Example],
        *,
        origin: str,
        lease: Lease | None = None,
    ) -> Run:
        """Insert a queued run and all its examples atomically; ``spec`` names its model.
        With ``lease``, the run is created held by its owner (nobody adopts it meanwhile)."""
        ...

    async def get_run(self, run_id: str) -> Run: ...

    async def list_runs(self, *, limit: int = 50, offset: int = 0) -> list[Run]:
        """Runs, newest first, each with its progress (one query, whatever the limit)."""
        ...

    async def unowned_runs(self, origin: str) -> list[str]:
        """Ids of runs from ``origin`` that are queued, generating or scoring and that no live
        lease holds (never taken, given up, or lapsed), oldest first: the runs to adopt."""
        ...

    async def acquire(self, run_id: str, lease: Lease) -> bool:
        """Take the run's lease, or renew it: True when ``lease.owner`` holds it for the next
        ``lease.seconds``, False when another owner's lease is still live. Atomic."""
        ...

    async def release(self, run_id: str, owner: str) -> None:
        """Give the lease up, if ``owner`` holds it (another holder's lease is left alone)."""
        ...

    async def set_status(
        self, run_id: str, status: RunStatus, *, error: str | None = None, owner: str | None = None
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

    async def record_output(
        self, run_id: str, example_id: str, generation: Generation, *, owner: str | None = None
    ) -> None:
        """Commit one generated output at once: this is what a resumed run does not redo."""
        ...

    async def record_failure(
        self, run_id: str, example_id: str, error: str, *, owner: str | None = None
    ) -> None: ...

    async def record_scores(
        self,
        run_id: str,
        scores: CorpusScores,
        per_example: Mapping[str, Mapping[str, float]],
        *,
        owner: str | None = None,
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
        locked for longer than its timeout, or gone, ``StoreFull`` when its disk is (SQLite:
        no more than ``LIFTOFF_EVAL_MIN_FREE_BYTES`` free)."""
        ...

    async def close(self) -> None: ...


async def open_store(settings: Settings, path: Path | None = None) -> RunStore:
    """The store the settings name: Postgres when ``LIFTOFF_EVAL_DATABASE_URL`` is set (and
    no SQLite ``path`` is given), else the SQLite file ``path`` or ``LIFTOFF_EVAL_STORE``."""
    if settings.database_url is not None and path is None:
        from liftoff.evaluation.runs.store.postgres import PostgresRunStore

        return await PostgresRunStore.open(
            settings.database_url.get_secret_value(),
            pool_size=settings.database_pool_size,
            connect_timeout=settings.database_timeout,
        )
    from liftoff.evaluation.runs.store.sqlite import SQLiteRunStore

    return await SQLiteRunStore.open(path or settings.store, min_free_bytes=settings.min_free_bytes)


def now() -> str:
    """UTC time as ISO 8601 with milliseconds (sorts as text)."""
    stamp = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(stamp)) + f".{int(stamp % 1 * 1000):03d}Z"
