"""Runs in SQLite (stdlib ``sqlite3``, WAL): one row per run, one per example.

The tables hold the records' own shapes: ``runs.spec`` is the :class:`RunSpec` JSON and
``examples.row`` the :class:`Example` JSON, and every other column is named after the field
it holds, so :func:`_record` turns any row into its model's input without naming a field.

Nothing blocks the caller's event loop: writes run on the store's writer thread (one
connection; SQLite has one writer at a time anyway) and reads on a few reader threads, each
with its own connection, which WAL lets read while a write is in progress. The sqlite3
module releases the GIL while SQLite works, so a long query leaves the loop free.

WAL with ``synchronous=NORMAL``: a committed output survives the process being killed; only
a power cut can lose the last few. The tables and their upgrades: ``sqlite_schema``.

A full disk: every write is one transaction, rolled back whole when SQLite cannot write
(``SQLITE_FULL``), and raises :class:`StoreFull`. With ``min_free_bytes``, the store also
counts as full while its disk has no more than that free: ``check_writable`` (readiness)
and new runs say so before anything is tried.

Several processes may open one file (one machine: SQLite's locks do not work over network
file systems). Leases are columns of ``runs``, taken and checked inside ``BEGIN IMMEDIATE``
transactions, which hold SQLite's single write lock: no two processes can both take a run,
and a fenced write reads the owner under the same lock it writes with.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import json
import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from liftoff.evaluation.metrics import METRICS
from liftoff.evaluation.runs.dataset import Example
from liftoff.evaluation.runs.errors import LeaseLost, RunNotFound, StoreError, StoreFull
from liftoff.evaluation.runs.model import (
    UNFINISHED,
    CorpusScores,
    Distribution,
    ExampleRecord,
    ExampleStatus,
    Generation,
    Run,
    RunSpec,
    RunStatus,
)
from liftoff.evaluation.runs.store import Lease, now
from liftoff.evaluation.runs.store.sqlite_schema import (
    INDEX_SCORES,
    json_text,
    prepare,
    transaction,
)

# Columns holding JSON, and those among them holding a record's own fields (spread into it).
_JSON = frozenset({"spec", "row", "progress", "corpus", "confidence_intervals", "signatures",
                   "citations", "scores"})  # fmt: skip
_SPREAD = frozenset({"spec", "row"})
_SPEC_FIELDS = set(RunSpec.model_fields)  # a Run is a RunSpec too: store only the spec

# Runs with their progress, in one query: the page of runs first (``{where}`` filters it),
# then each one's examples counted on the index of their statuses.
_RUNS = """
SELECT r.*, (
    SELECT json_object('total', count(*), 'done', coalesce(sum(status = 'done'), 0),
                       'failed', coalesce(sum(status = 'failed'), 0))
    FROM examples WHERE run_id = r.id) AS progress
FROM (SELECT * FROM runs {where} ORDER BY created_at DESC, id LIMIT ? OFFSET ?) AS r
ORDER BY r.created_at DESC, r.id
"""
_EXAMPLES = (
    "SELECT row, status, prediction, error, attempts, latency_s, prompt_tokens, "
    "completion_tokens, finish_reason, generated_at, citations, scores FROM examples"
)

P = ParamSpec("P")
T = TypeVar("T")


def _record(row: sqlite3.Row) -> dict[str, Any]:
    """A row as its model's input: JSON columns parsed, ``spec`` and ``row`` spread out."""
    record: dict[str, Any] = {}
    for key in row.keys():  # noqa: SIM118 - sqlite3.Row is not a mapping
        value = row[key]
        if key in _JSON and value is not None:
            value = json.loads(value)
        if key in _SPREAD:
            record.update(value)
        else:
            record[key] = value
    return record


def _citations(generation: Generation) -> str | None:
    if generation.citations is None:
        return None
    return json_text([citation.model_dump(mode="json") for citation in generation.citations])


class SQLiteRunStore:
    """:class:`~liftoff.evaluation.runs.store.RunStore` in one SQLite file.

    Open it with :meth:`open` (creates the file and its directory, or upgrades an older
    schema); ``readers`` threads serve reads. Raises :class:`StoreError` for a store written
    by a newer Liftoff, :class:`StoreFull` when its disk is full (see the module).
    """

    def __init__(self, path: Path, *, readers: int = 2, min_free_bytes: int = 0) -> None:
        self.path = path
        self.min_free_bytes = min_free_bytes
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._writer = ThreadPoolExecutor(1, "run-store-writer")
        self._readers = ThreadPoolExecutor(readers, "run-store-reader")

    @classmethod
    async def open(cls, path: Path, *, readers: int = 2, min_free_bytes: int = 0) -> SQLiteRunStore:
        store = cls(path, readers=readers, min_free_bytes=min_free_bytes)
        try:
            await store._write(store._setup)
        except BaseException:
            await store.close()
            raise
        return store

    async def close(self) -> None:
        """Wait for the calls in progress, then close every connection."""
        loop = asyncio.get_running_loop()
        for pool in (self._writer, self._readers):
            await loop.run_in_executor(None, pool.shutdown)
        with self._lock:
            for db in self._connections:
                db.close()
            self._connections.clear()

    # How calls reach SQLite: on the writer thread, or on a reader thread.

    async def _write(self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        call = functools.partial(function, *args, **kwargs)
        try:
            return await asyncio.get_running_loop().run_in_executor(self._writer, call)
        except (sqlite3.Error, OSError) as exc:
            if _disk_full(exc):
                raise StoreFull(
                    f"the disk holding the run store {self.path} is full: nothing was written; "
                    "free some space and try again"
                ) from exc
            raise

    async def _read(self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        call = functools.partial(function, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._readers, call)

    @property
    def _db(self) -> sqlite3.Connection:
        """This thread's connection."""
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(
                self.path, timeout=10, isolation_level=None, check_same_thread=False
            )
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA synchronous = NORMAL")
            db.execute("PRAGMA foreign_keys = ON")
            with self._lock:
                self._connections.append(db)
            self._local.db = db
        return db

    def _setup(self) -> None:
        prepare(self._db, self.path)

    def describe(self) -> str:
        return str(self.path)

    # Runs.

    async def create_run(
        self,
        spec: RunSpec,
        examples: Sequence[Example],
        *,
        origin: str,
        lease: Lease | None = None,
    ) -> Run:
        return await self._write(self._create_run, spec, examples, origin, lease)

    def _create_run(
        self, spec: RunSpec, examples: Sequence[Example], origin: str, lease: Lease | None
    ) -> Run:
        self._check_space()
        if spec.target.model is None:
            raise ValueError("a stored run names its model: resolve it first (RunExecutor.create)")
        run_id = uuid.uuid4().hex[:12]
        stamp = now()
        owner, expires = (lease.owner, time.time() + lease.seconds) if lease else (None, None)
        with transaction(self._db) as db:
            db.execute(
                "INSERT INTO runs (id, spec, status, origin, created_at, updated_at, owner, "
                "lease_expires) VALUES (?, ?, 'queued', ?, ?, ?, ?, ?)",
                (run_id, spec.model_dump_json(include=_SPEC_FIELDS), origin, stamp, stamp,
                 owner, expires),
            )  # fmt: skip
            db.executemany(
                "INSERT INTO examples (run_id, position, id, row) VALUES (?, ?, ?, ?)",
                (
                    (run_id, position, example.id, example.model_dump_json())
                    for position, example in enumerate(examples)
                ),
            )
        return self._get_run(run_id)

    async def get_run(self, run_id: str) -> Run:
        return await self._read(self._get_run, run_id)

    def _get_run(self, run_id: str) -> Run:
        rows = self._runs("WHERE id = ?", (run_id,), limit=1, offset=0)
        if not rows:
            raise RunNotFound(run_id)
        return rows[0]

    async def list_runs(self, *, limit: int = 50, offset: int = 0) -> list[Run]:
        return await self._read(self._runs, "", (), limit=limit, offset=offset)

    def _runs(self, where: str, params: Sequence[Any], *, limit: int, offset: int) -> list[Run]:
        rows = self._db.execute(_RUNS.format(where=where), (*params, limit, offset))
        return [Run.model_validate(_record(row)) for row in rows]

    async def unowned_runs(self, origin: str) -> list[str]:
        return await self._read(self._unowned_runs, origin)

    def _unowned_runs(self, origin: str) -> list[str]:
        marks = ", ".join("?" for _ in UNFINISHED)
        rows = self._db.execute(
            f"SELECT id FROM runs WHERE origin = ? AND status IN ({marks}) "
            "AND (owner IS NULL OR lease_expires < ?) ORDER BY created_at",
            (origin, *UNFINISHED, time.time()),
        )
        return [row["id"] for row in rows]

    # Leases.

    async def acquire(self, run_id: str, lease: Lease) -> bool:
        return await self._write(self._acquire, run_id, lease)

    def _acquire(self, run_id: str, lease: Lease) -> bool:
        stamp = time.time()
        with transaction(self._db) as db:
            taken = db.execute(
                "UPDATE runs SET owner = :owner, lease_expires = :expires WHERE id = :id "
                "AND (owner IS NULL OR owner = :owner OR lease_expires < :now)",
                {"owner": lease.owner, "expires": stamp + lease.seconds, "id": run_id,
                 "now": stamp},
            ).rowcount  # fmt: skip
            if not taken:
                self._check_run(run_id)
        return bool(taken)

    async def release(self, run_id: str, owner: str) -> None:
        await self._write(self._release, run_id, owner)

    def _release(self, run_id: str, owner: str) -> None:
        with transaction(self._db) as db:
            db.execute(
                "UPDATE runs SET owner = NULL, lease_expires = NULL WHERE id = ? AND owner = ?",
                (run_id, owner),
            )

    def _fence(self, run_id: str, owner: str | None) -> None:
        """Inside a write transaction: raise ``LeaseLost`` unless ``owner`` (when given) holds
        the run. The transaction holds the write lock, so nobody takes the run meanwhile."""
        if owner is None:
            return
        row = self._db.execute("SELECT owner FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise RunNotFound(run_id)
        if row["owner"] != owner:
            raise LeaseLost(run_id, "another process took the run over")

    async def set_status(
        self, run_id: str, status: RunStatus, *, error: str | None = None, owner: str | None = None
    ) -> Run:
        return await self._write(self._set_status, run_id, status, error, owner)

    def _set_status(
        self, run_id: str, status: RunStatus, error: str | None, owner: str | None
    ) -> Run:
        with transaction(self._db) as db:
            self._fence(run_id, owner)
            db.execute(
                "UPDATE runs SET status = ?, error = ?, updated_at = ? WHERE id = ?",
                (status, error, now(), run_id),
            )
        return self._get_run(run_id)

    async def record_scores(
        self,
        run_id: str,
        scores: CorpusScores,
        per_example: Mapping[str, Mapping[str, float]],
        *,
        owner: str | None = None,
    ) -> Run:
        return await self._write(self._record_scores, run_id, scores, per_example, owner)

    def _record_scores(
        self,
        run_id: str,
        scores: CorpusScores,
        per_example: Mapping[str, Mapping[str, float]],
        owner: str | None,
    ) -> Run:
        fields = scores.model_dump(mode="json")
        with transaction(self._db) as db:
            self._fence(run_id, owner)
            db.executemany(
                "UPDATE examples SET scores = ? WHERE run_id = ? AND id = ?",
                (
                    (json_text(values), run_id, example_id)
                    for example_id, values in per_example.items()
                ),
            )
            db.execute("DELETE FROM example_scores WHERE run_id = ?", (run_id,))
            db.execute(INDEX_SCORES, {"run_id": run_id, "metrics": json_text(list(scores.corpus))})
            db.execute(
                "UPDATE runs SET status = 'completed', error = NULL, corpus = :corpus, "
                "confidence_intervals = :confidence_intervals, signatures = :signatures, "
                "updated_at = :now WHERE id = :id",
                {
                    **{
                        key: None if value is None else json_text(value)
                        for key, value in fields.items()
                    },
                    "now": now(),
                    "id": run_id,
                },
            )
        return self._get_run(run_id)

    # Examples.

    async def examples(
        self,
        run_id: str,
        *,
        statuses: Iterable[ExampleStatus] | None = None,
        offset: int = 0,
        limit: int | None = None,
    ) -> list[ExampleRecord]:
        wanted = None if statuses is None else list(statuses)
        return await self._read(self._examples, run_id, wanted, offset, limit)

    def _examples(
        self, run_id: str, statuses: list[ExampleStatus] | None, offset: int, limit: int | None
    ) -> list[ExampleRecord]:
        self._check_run(run_id)
        query = f"{_EXAMPLES} WHERE run_id = ?"
        params: list[Any] = [run_id]
        if statuses is not None:
            query += f" AND status IN ({', '.join('?' for _ in statuses)})"
            params += statuses
        query += " ORDER BY position LIMIT ? OFFSET ?"
        params += [-1 if limit is None else limit, offset]
        return [
            ExampleRecord.model_validate(_record(row)) for row in self._db.execute(query, params)
        ]

    async def record_output(
        self, run_id: str, example_id: str, generation: Generation, *, owner: str | None = None
    ) -> None:
        await self._write(self._record_output, run_id, example_id, generation, owner)

    def _record_output(
        self, run_id: str, example_id: str, generation: Generation, owner: str | None
    ) -> None:
        with transaction(self._db) as db:
            self._fence(run_id, owner)
            db.execute(
                "UPDATE examples SET status = 'done', prediction = :prediction, error = NULL, "
                "attempts = attempts + 1, latency_s = :latency_s, "
                "prompt_tokens = :prompt_tokens, completion_tokens = :completion_tokens, "
                "finish_reason = :finish_reason, citations = :citations, generated_at = :now "
                "WHERE run_id = :run_id AND id = :example_id",
                {
                    **generation.model_dump(exclude={"citations"}),
                    "citations": _citations(generation),
                    "now": now(),
                    "run_id": run_id,
                    "example_id": example_id,
                },
            )

    async def record_failure(
        self, run_id: str, example_id: str, error: str, *, owner: str | None = None
    ) -> None:
        await self._write(self._record_failure, run_id, example_id, error, owner)

    def _record_failure(self, run_id: str, example_id: str, error: str, owner: str | None) -> None:
        with transaction(self._db) as db:
            self._fence(run_id, owner)
            db.execute(
                "UPDATE examples SET status = 'failed', error = ?, attempts = attempts + 1 "
                "WHERE run_id = ? AND id = ?",
                (error, run_id, example_id),
            )

    # What reports read.

    async def distribution(self, run_id: str, metric: str, *, bins: int) -> Distribution | None:
        return await self._read(self._distribution, run_id, metric, bins)

    def _distribution(self, run_id: str, metric: str, bins: int) -> Distribution | None:
        self._check_run(run_id)
        where = "FROM example_scores WHERE run_id = :run_id AND metric = :metric"
        params: dict[str, Any] = {"run_id": run_id, "metric": metric}
        count, mean, largest = self._db.execute(
            f"SELECT count(*), avg(value), max(value) {where}", params
        ).fetchone()
        if not count:
            return None
        (median,) = self._db.execute(  # the middle value, or the mean of the middle two
            f"SELECT avg(value) FROM (SELECT value {where} ORDER BY value LIMIT :n OFFSET :skip)",
            {**params, "n": 2 - count % 2, "skip": (count - 1) // 2},
        ).fetchone()
        top = max(METRICS[metric].scale, largest)
        counts = [0] * bins
        for index, found in self._db.execute(
            f"SELECT min(CAST(value / :top * :bins AS INTEGER), :bins - 1), count(*) {where} "
            "GROUP BY 1",
            {**params, "top": top, "bins": bins},
        ):
            counts[index] = found
        return Distribution(
            metric=metric, count=count, mean=mean, median=median, top=top, counts=counts
        )

    async def worst_examples(
        self, run_id: str, metric: str, count: int, *, higher_is_better: bool
    ) -> list[ExampleRecord]:
        return await self._read(self._worst_examples, run_id, metric, count, higher_is_better)

    def _worst_examples(
        self, run_id: str, metric: str, count: int, higher_is_better: bool
    ) -> list[ExampleRecord]:
        self._check_run(run_id)
        direction = "ASC" if higher_is_better else "DESC"  # worst first
        rows = self._db.execute(
            f"{_EXAMPLES} AS e JOIN (SELECT position, value FROM example_scores "
            f"WHERE run_id = :run_id AND metric = :metric "
            f"ORDER BY value {direction}, position LIMIT :count) AS w "
            f"ON e.run_id = :run_id AND e.position = w.position "
            f"ORDER BY w.value {direction}, w.position",
            {"run_id": run_id, "metric": metric, "count": count},
        )
        return [ExampleRecord.model_validate(_record(row)) for row in rows]

    async def check_writable(self) -> None:
        await self._write(self._check_writable)

    def _check_writable(self) -> None:
        self._check_space()
        try:
            with transaction(self._db):
                pass
        except (sqlite3.Error, OSError) as exc:
            if _disk_full(exc):
                raise
            raise StoreError(f"the run store {self.path} is not writable: {exc}") from exc

    def _check_space(self) -> None:
        """Raises ``StoreFull`` while the store's disk has no more than ``min_free_bytes``
        free (none at all, with the default 0)."""
        free = shutil.disk_usage(self.path.parent).free
        if free <= self.min_free_bytes:
            raise StoreFull(
                f"the disk holding the run store {self.path} has {free} bytes free, not more "
                f"than the {self.min_free_bytes} kept free (LIFTOFF_EVAL_MIN_FREE_BYTES); free "
                "some space"
            )

    def _check_run(self, run_id: str) -> None:
        if self._db.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone() is None:
            raise RunNotFound(run_id)


def _disk_full(exc: BaseException) -> bool:
    """SQLite's "database or disk is full" (``SQLITE_FULL``, any extended code) or ENOSPC."""
    if isinstance(exc, StoreFull):
        return True
    if isinstance(exc, sqlite3.Error):
        return getattr(exc, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_FULL
    return isinstance(exc, OSError) and exc.errno == errno.ENOSPC
