"""The Postgres run store's tables, created (or checked) when a store is opened.

The tables carry an ``eval_`` prefix, so one database can hold other services' tables too
(the retrieval service's are ``rag_``). They hold the same records as the SQLite store's
(``sqlite_schema``), in Postgres' own types: JSON as ``json`` (kept as written: the order of
a record's keys is part of it, and ``jsonb`` would sort them), times as ``timestamptz``
(read back as the ISO 8601 text, milliseconds and ``Z``, that the records carry), and the
lease as ``owner`` and ``lease_expires``, compared with the database's clock only.

Versions (``eval_schema.version``):

    1  runs, examples (with the citations a target returned) and example_scores, with run
       leases

Replicas starting together create the tables under one advisory lock, one at a time; a
database written by a newer release is refused, untouched.
"""

from __future__ import annotations

import psycopg
from psycopg.rows import DictRow

from liftoff.evaluation.runs.errors import StoreError

SCHEMA_VERSION = 1
_SCHEMA_LOCK = 0x6C69667465  # any constant every replica shares ("lifte")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS eval_schema (version integer NOT NULL);
CREATE TABLE IF NOT EXISTS eval_runs (
    id text PRIMARY KEY,
    spec json NOT NULL,
    status text NOT NULL,
    origin text NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    error text,
    corpus json,
    confidence_intervals json,
    signatures json,
    owner text,
    lease_expires timestamptz
);
CREATE INDEX IF NOT EXISTS eval_runs_by_time ON eval_runs (created_at DESC, id);
CREATE INDEX IF NOT EXISTS eval_runs_unfinished ON eval_runs (origin, created_at)
    WHERE status IN ('queued', 'generating', 'scoring');
CREATE TABLE IF NOT EXISTS eval_examples (
    run_id text NOT NULL REFERENCES eval_runs (id) ON DELETE CASCADE,
    position integer NOT NULL,
    id text NOT NULL,
    row json NOT NULL,
    status text NOT NULL DEFAULT 'pending',
    prediction text,
    error text,
    attempts integer NOT NULL DEFAULT 0,
    latency_s double precision,
    prompt_tokens integer,
    completion_tokens integer,
    finish_reason text,
    generated_at timestamptz,
    citations json,
    scores json,
    PRIMARY KEY (run_id, position),
    UNIQUE (run_id, id)
);
CREATE INDEX IF NOT EXISTS eval_examples_by_status ON eval_examples (run_id, status);
CREATE TABLE IF NOT EXISTS eval_example_scores (
    run_id text NOT NULL REFERENCES eval_runs (id) ON DELETE CASCADE,
    metric text NOT NULL,
    value double precision NOT NULL,
    position integer NOT NULL,
    PRIMARY KEY (run_id, metric, value, position)
);
"""

# Fills eval_example_scores from a run's eval_examples.scores: its metrics (%(metrics)s, a
# text array), not ROUGE's components. A JSON number is the shortest text that Python reads
# back as the same double, and Postgres reads it as the nearest double: the very value.
INDEX_SCORES = """
INSERT INTO eval_example_scores (run_id, metric, value, position)
SELECT e.run_id, s.key, s.value::text::double precision, e.position
FROM eval_examples AS e, json_each(e.scores) AS s
WHERE e.run_id = %(run_id)s AND s.key = ANY(%(metrics)s) AND json_typeof(s.value) = 'number'
"""

_ISO = 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'


def iso(column: str) -> str:
    """SQL reading a ``timestamptz`` column as the records' ISO 8601 text."""
    return f"to_char({column} AT TIME ZONE 'UTC', '{_ISO}')"


async def prepare(db: psycopg.AsyncConnection[DictRow], where: str) -> None:
    """Create the tables if they are missing (in one transaction, under an advisory lock);
    raises :class:`StoreError` for a database written by a newer release."""
    async with db.transaction():
        await db.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
        await db.execute(_SCHEMA)
        found = await db.execute("SELECT max(version) AS version FROM eval_schema")
        version = (await found.fetchone() or {}).get("version")
        if version is None:
            await db.execute("INSERT INTO eval_schema (version) VALUES (%s)", (SCHEMA_VERSION,))
        elif version > SCHEMA_VERSION:
            raise StoreError(
                f"the run store at {where} has schema version {version}, written by a newer "
                f"Liftoff; this one reads up to version {SCHEMA_VERSION}"
            )
