"""Runs in Postgres (psycopg 3, asynchronous): one database that several evaluation replicas
share (Cloud SQL, AlloyDB, or any Postgres 13 or later).

The same records and guarantees as the SQLite store (``liftoff.evaluation.runs.store``), in
the tables of ``postgres_schema``. Nothing blocks the event loop: psycopg's async connections
come from a pool (``pool_size`` per process) and are checked before use, so a database that
restarted is reconnected to; bulk work in Python (a dataset's rows as JSON, 100,000 examples
read back as records) runs in a thread, and examples are read in batches from a server-side
cursor. A database that cannot be reached raises ``StoreUnavailable``.

Leases and fencing, in READ COMMITTED (Postgres' default):

- ``acquire`` is one ``UPDATE ... WHERE owner IS NULL OR owner = me OR lease_expires <
  now()``: two replicas racing for a run queue on its row lock, and the second re-checks the
  condition on the row the first wrote, so only one gets it;
- a write naming its owner first locks the run's row (``FOR SHARE`` before writing examples,
  ``FOR UPDATE`` before writing the run) and checks the owner under that lock: a takeover
  waits for writes in progress, and writes after it see the new owner and fail.

    >>> store = await PostgresRunStore.open("postgresql://eval:secret@10.0.0.5/liftoff")
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from liftoff.evaluation.metrics import METRICS
from liftoff.evaluation.runs.dataset import Example
from liftoff.evaluation.runs.errors import LeaseLost, RunNotFound, StoreError, StoreUnavailable
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
from liftoff.evaluation.runs.store import Lease
from liftoff.evaluation.runs.store.postgres_schema import INDEX_SCORES, iso, prepare

Connection = psycopg.AsyncConnection[DictRow]

_SPREAD = frozenset({"spec", "row"})  # JSON columns holding a record's own fields
_SPEC_FIELDS = set(RunSpec.model_fields)

# Runs with their progress, in one query: the page of runs first (``{where}`` filters it),
# then each one's examples counted on the index of their statuses.
_RUNS = f"""
SELECT r.id, r.spec, r.status, r.origin, {iso("r.created_at")} AS created_at,
    {iso("r.updated_at")} AS updated_at, r.error, r.corpus, r.confidence_intervals,
    r.signatures, (
    SELECT json_build_object('total', count(*),
                             'done', count(*) FILTER (WHERE e.status = 'done'),
                             'failed', count(*) FILTER (WHERE e.status = 'failed'))
    FROM eval_examples AS e WHERE e.run_id = r.id) AS progress
FROM (SELECT * FROM eval_runs {{where}} ORDER BY created_at DESC, id
      LIMIT %(limit)s OFFSET %(offset)s) AS r
ORDER BY r.created_at DESC, r.id
"""
# JSON columns as text: parsed with the records, in a thread, not by psycopg on the loop.
_EXAMPLES = (
    "SELECT e.row::text AS row, e.status, e.prediction, e.error, e.attempts, e.latency_s, "
    "e.prompt_tokens, e.completion_tokens, e.finish_reason, "
    f"{iso('e.generated_at')} AS generated_at, e.citations::text AS citations, "
    "e.scores::text AS scores FROM eval_examples AS e"
)
_BATCH = 5000  # examples per round trip (and per thread hop) when reading many
_LEASE_EXPIRES = "now() + make_interval(secs => %(seconds)s::double precision)"


def _record(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row as its model's input: ``spec`` and ``row`` (parsed by psycopg) spread out."""
    record: dict[str, Any] = {}
    for key, value in row.items():
        if key in _SPREAD:
            record.update(value)
        else:
            record[key] = value
    return record


def _example_records(rows: Sequence[Mapping[str, Any]]) -> list[ExampleRecord]:
    """Rows of ``_EXAMPLES`` as records (their JSON columns still text)."""
    records = []
    for row in rows:
        record = dict(row)
        record.update(json.loads(record.pop("row")))
        for column in ("citations", "scores"):
            if record[column] is not None:
                record[column] = json.loads(record[column])
        records.append(ExampleRecord.model_validate(record))
    return records


def _copy_rows(run_id: str, examples: Sequence[Example]) -> list[tuple[str, int, str, str]]:
    return [(run_id, position, e.id, e.model_dump_json()) for position, e in enumerate(examples)]


def _citations(generation: Generation) -> str | None:
    if generation.citations is None:
        return None
    return _json([citation.model_dump(mode="json") for citation in generation.citations])


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def safe_location(url: str) -> str:
    """The database's URL without its password (or any other secret parameter)."""
    try:
        parts = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "postgresql://(unreadable URL)"
    user = f"{parts['user']}@" if parts.get("user") else ""
    port = f":{parts['port']}" if parts.get("port") else ""
    return f"postgresql://{user}{parts.get('host', '')}{port}/{parts.get('dbname', '')}"


class PostgresRunStore:
    """:class:`~liftoff.evaluation.runs.store.RunStore` in a Postgres database.

    Open it with :meth:`open` (creates the tables when missing); raises
    :class:`StoreUnavailable` when the database cannot be reached in ``connect_timeout``
    seconds, :class:`StoreError` for tables written by a newer Liftoff.
    """

    def __init__(self, pool: AsyncConnectionPool[Connection], where: str) -> None:
        self._pool = pool
        self._where = where

    @classmethod
    async def open(
        cls, url: str, *, pool_size: int = 8, connect_timeout: float = 10.0
    ) -> PostgresRunStore:
        where = safe_location(url)
        timeout = max(1, round(connect_timeout))  # libpq takes whole seconds
        try:
            db = await psycopg.AsyncConnection.connect(
                url, autocommit=True, row_factory=dict_row, connect_timeout=timeout
            )
            async with db:
                await prepare(db, where)
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(f"cannot reach the run store at {where}: {exc}") from exc
        pool = AsyncConnectionPool(
            url,
            connection_class=Connection,
            kwargs={"autocommit": True, "row_factory": dict_row, "connect_timeout": timeout},
            min_size=1,
            max_size=pool_size,
            timeout=connect_timeout,
            check=AsyncConnectionPool.check_connection,
            name="liftoff-eval",
            open=False,
        )
        try:
            await pool.open(wait=True, timeout=connect_timeout)
        except PoolTimeout as exc:
            await pool.close()
            raise StoreUnavailable(f"cannot reach the run store at {where}: {exc}") from exc
        return cls(pool, where)

    def describe(self) -> str:
        return self._where

    async def close(self) -> None:
        await self._pool.close()

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Connection]:
        try:
            async with self._pool.connection() as db:
                yield db
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise StoreUnavailable(f"the run store at {self._where} failed: {exc}") from exc

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Connection]:
        async with self._connection() as db, db.transaction():
            yield db

    async def _fence(
        self, db: Connection, run_id: str, owner: str | None, *, exclusive: bool = False
    ) -> None:
        """Inside a transaction: lock the run's row, and raise ``LeaseLost`` unless ``owner``
        (when given) holds the run; ``exclusive`` when the run's row is written next."""
        if owner is None:
            return
        lock = "FOR UPDATE" if exclusive else "FOR SHARE"
        found = await db.execute(f"SELECT owner FROM eval_runs WHERE id = %s {lock}", (run_id,))
        row = await found.fetchone()
        if row is None:
            raise RunNotFound(run_id)
        if row["owner"] != owner:
            raise LeaseLost(run_id, "another process took the run over")

    async def _check_run(self, db: Connection, run_id: str) -> None:
        found = await db.execute("SELECT 1 FROM eval_runs WHERE id = %s", (run_id,))
        if await found.fetchone() is None:
            raise RunNotFound(run_id)

    # Runs.

    async def create_run(
        self,
        spec: RunSpec,
        examples: Sequence[Example],
        *,
        origin: str,
        lease: Lease | None = None,
    ) -> Run:
        if spec.target.model is None:
            raise ValueError("a stored run names its model: resolve it first (RunExecutor.create)")
        run_id = uuid.uuid4().hex[:12]
        rows = await asyncio.to_thread(_copy_rows, run_id, examples)
        async with self._transaction() as db:
            await db.execute(
                "INSERT INTO eval_runs (id, spec, status, origin, created_at, updated_at, owner, "
                f"lease_expires) VALUES (%(id)s, %(spec)s::json, 'queued', %(origin)s, now(), "
                f"now(), %(owner)s, {_LEASE_EXPIRES})",
                {"id": run_id, "spec": spec.model_dump_json(include=_SPEC_FIELDS),
                 "origin": origin, "owner": lease.owner if lease else None,
                 "seconds": lease.seconds if lease else None},
            )  # fmt: skip
            copy_rows = "COPY eval_examples (run_id, position, id, row) FROM STDIN"
            async with db.cursor() as cursor, cursor.copy(copy_rows) as copy:
                for row in rows:
                    await copy.write_row(row)
        return await self.get_run(run_id)

    async def get_run(self, run_id: str) -> Run:
        runs = await self._runs("WHERE id = %(id)s", {"id": run_id}, limit=1, offset=0)
        if not runs:
            raise RunNotFound(run_id)
        return runs[0]

    async def list_runs(self, *, limit: int = 50, offset: int = 0) -> list[Run]:
        return await self._runs("", {}, limit=limit, offset=offset)

    async def _runs(
        self, where: str, params: dict[str, Any], *, limit: int, offset: int
    ) -> list[Run]:
        async with self._connection() as db:
            found = await db.execute(
                _RUNS.format(where=where), {**params, "limit": limit, "offset": offset}
            )
            return [Run.model_validate(_record(row)) for row in await found.fetchall()]

    async def unowned_runs(self, origin: str) -> list[str]:
        async with self._connection() as db:
            found = await db.execute(
                "SELECT id FROM eval_runs WHERE origin = %s AND status = ANY(%s) "
                "AND (owner IS NULL OR lease_expires < now()) ORDER BY created_at",
                (origin, list(UNFINISHED)),
            )
            return [row["id"] for row in await found.fetchall()]

    # Leases.

    async def acquire(self, run_id: str, lease: Lease) -> bool:
        async with self._connection() as db:
            taken = await db.execute(
                f"UPDATE eval_runs SET owner = %(owner)s, lease_expires = {_LEASE_EXPIRES} "
                "WHERE id = %(id)s AND (owner IS NULL OR owner = %(owner)s "
                "OR lease_expires < now())",
                {"owner": lease.owner, "seconds": lease.seconds, "id": run_id},
            )
            if taken.rowcount == 0:
                await self._check_run(db, run_id)
            return taken.rowcount == 1

    async def release(self, run_id: str, owner: str) -> None:
        async with self._connection() as db:
            await db.execute(
                "UPDATE eval_runs SET owner = NULL, lease_expires = NULL "
                "WHERE id = %s AND owner = %s",
                (run_id, owner),
            )

    async def set_status(
        self, run_id: str, status: RunStatus, *, error: str | None = None, owner: str | None = None
    ) -> Run:
        async with self._transaction() as db:
            await self._fence(db, run_id, owner, exclusive=True)
            await db.execute(
                "UPDATE eval_runs SET status = %s, error = %s, updated_at = now() WHERE id = %s",
                (status, error, run_id),
            )
        return await self.get_run(run_id)

    async def record_scores(
        self,
        run_id: str,
        scores: CorpusScores,
        per_example: Mapping[str, Mapping[str, float]],
        *,
        owner: str | None = None,
    ) -> Run:
        fields = scores.model_dump(mode="json")
        texts = await asyncio.to_thread(lambda: [_json(v) for v in per_example.values()])
        async with self._transaction() as db:
            await self._fence(db, run_id, owner, exclusive=True)
            await db.execute(
                "UPDATE eval_examples AS e SET scores = v.scores "
                "FROM unnest(%(ids)s::text[], %(scores)s::json[]) AS v (id, scores) "
                "WHERE e.run_id = %(run_id)s AND e.id = v.id",
                {"ids": list(per_example), "run_id": run_id, "scores": texts},
            )  # fmt: skip
            await db.execute("DELETE FROM eval_example_scores WHERE run_id = %s", (run_id,))
            await db.execute(INDEX_SCORES, {"run_id": run_id, "metrics": list(scores.corpus)})
            await db.execute(
                "UPDATE eval_runs SET status = 'completed', error = NULL, "
                "corpus = %(corpus)s::json, confidence_intervals = %(confidence_intervals)s::json, "
                "signatures = %(signatures)s::json, updated_at = now() WHERE id = %(id)s",
                {
                    **{k: None if v is None else _json(v) for k, v in fields.items()},
                    "id": run_id,
                },
            )
        return await self.get_run(run_id)

    # Examples.

    async def examples(
        self,
        run_id: str,
        *,
        statuses: Iterable[ExampleStatus] | None = None,
        offset: int = 0,
        limit: int | None = None,
    ) -> list[ExampleRecord]:
        query = f"{_EXAMPLES} WHERE e.run_id = %(run_id)s"
        params: dict[str, Any] = {"run_id": run_id, "limit": limit, "offset": offset}
        if statuses is not None:
            query += " AND e.status = ANY(%(statuses)s)"
            params["statuses"] = list(statuses)
        query += " ORDER BY e.position LIMIT %(limit)s OFFSET %(offset)s"
        records: list[ExampleRecord] = []
        async with self._transaction() as db:  # a server-side cursor lives in a transaction
            await self._check_run(db, run_id)
            async with db.cursor(name=f"examples_{uuid.uuid4().hex[:8]}") as cursor:
                await cursor.execute(query, params)
                while batch := await cursor.fetchmany(_BATCH):
                    records += await asyncio.to_thread(_example_records, batch)
        return records

    async def record_output(
        self, run_id: str, example_id: str, generation: Generation, *, owner: str | None = None
    ) -> None:
        async with self._transaction() as db:
            await self._fence(db, run_id, owner)
            await db.execute(
                "UPDATE eval_examples SET status = 'done', prediction = %(prediction)s, "
                "error = NULL, attempts = attempts + 1, latency_s = %(latency_s)s, "
                "prompt_tokens = %(prompt_tokens)s, completion_tokens = %(completion_tokens)s, "
                "finish_reason = %(finish_reason)s, citations = %(citations)s, "
                "generated_at = now() WHERE run_id = %(run_id)s AND id = %(example_id)s",
                {
                    **generation.model_dump(exclude={"citations"}),
                    "citations": _citations(generation),
                    "run_id": run_id,
                    "example_id": example_id,
                },
            )

    async def record_failure(
        self, run_id: str, example_id: str, error: str, *, owner: str | None = None
    ) -> None:
        async with self._transaction() as db:
            await self._fence(db, run_id, owner)
            await db.execute(
                "UPDATE eval_examples SET status = 'failed', error = %s, attempts = attempts + 1 "
                "WHERE run_id = %s AND id = %s",
                (error, run_id, example_id),
            )

    # What reports read.

    async def distribution(self, run_id: str, metric: str, *, bins: int) -> Distribution | None:
        where = "FROM eval_example_scores WHERE run_id = %(run_id)s AND metric = %(metric)s"
        params: dict[str, Any] = {"run_id": run_id, "metric": metric}
        async with self._connection() as db:
            await self._check_run(db, run_id)
            found = await db.execute(
                f"SELECT count(*) AS n, avg(value) AS mean, max(value) AS largest {where}", params
            )
            summary = await found.fetchone()
            if summary is None or not summary["n"]:
                return None
            count = summary["n"]
            middle = await db.execute(  # the middle value, or the mean of the middle two
                f"SELECT avg(value) AS median FROM (SELECT value {where} ORDER BY value "
                "LIMIT %(n)s OFFSET %(skip)s) AS m",
                {**params, "n": 2 - count % 2, "skip": (count - 1) // 2},
            )
            median = (await middle.fetchone() or {})["median"]
            top = max(METRICS[metric].scale, summary["largest"])
            counts = [0] * bins
            binned = await db.execute(
                "SELECT least(floor(value / %(top)s * %(bins)s)::integer, %(bins)s - 1) AS bin, "
                f"count(*) AS n {where} GROUP BY 1",
                {**params, "top": float(top), "bins": bins},
            )
            for row in await binned.fetchall():
                counts[row["bin"]] = row["n"]
        return Distribution(
            metric=metric, count=count, mean=summary["mean"], median=median, top=top,
            counts=counts,
        )  # fmt: skip

    async def worst_examples(
        self, run_id: str, metric: str, count: int, *, higher_is_better: bool
    ) -> list[ExampleRecord]:
        direction = "ASC" if higher_is_better else "DESC"  # worst first
        async with self._connection() as db:
            await self._check_run(db, run_id)
            found = await db.execute(
                f"{_EXAMPLES} JOIN (SELECT position, value FROM eval_example_scores "
                "WHERE run_id = %(run_id)s AND metric = %(metric)s "
                f"ORDER BY value {direction}, position LIMIT %(count)s) AS w "
                "ON e.run_id = %(run_id)s AND e.position = w.position "
                f"ORDER BY w.value {direction}, w.position",
                {"run_id": run_id, "metric": metric, "count": count},
            )
            rows = await found.fetchall()
        return await asyncio.to_thread(_example_records, rows)

    async def check_writable(self) -> None:
        """Lock the schema row and let go: a read-only database (a standby after a failover,
        ``default_transaction_read_only``) or one that does not answer raises StoreError."""
        try:
            async with self._connection() as db, db.transaction(force_rollback=True):
                await db.execute("SET LOCAL lock_timeout = '5s'")
                await db.execute("SELECT version FROM eval_schema FOR UPDATE")
        except (psycopg.Error, StoreUnavailable) as exc:
            raise StoreError(f"the run store at {self._where} is not writable: {exc}") from exc
