"""The SQLite run store's tables, and the upgrades of stores written by earlier releases.

Versions (``PRAGMA user_version``); :func:`prepare` creates the newest or upgrades in place,
in one transaction, when a store is opened:

    1  the first release: ``examples.output``; ``runs.spec`` with a flat target, model and
       endpoint; ``runs.corpus`` as ``{metric: {score, ci, signature, scale}}``
    2  the records' own shapes: ``examples.prediction``; ``runs.spec`` as ``RunSpec`` JSON;
       ``corpus``, ``confidence_intervals`` and ``signatures`` as ``GET /v1/runs/{id}``
       shows them. Indexes for what is read often: a run's examples by status (progress),
       runs by time (listing), and ``example_scores``, each example's metric scores as rows
       ordered by value (a report's distributions and worst examples, without parsing JSON)
    3  run ownership: ``runs.owner`` and ``runs.lease_expires`` (Unix seconds), the process
       working on a run and until when its lease lasts unrenewed, so that several processes
       on one store never work on the same run
    4  ``examples.citations``: the passages a target cited with each answer (JSON), which
       the retrieval metrics score

A store written by a newer release is refused, untouched. (Releases before version 3 refuse
a version 3 store: processes sharing a store must all hold leases, or none is safe.)
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from liftoff.evaluation.metrics.base import CONFIDENCE_LEVEL
from liftoff.evaluation.runs.errors import StoreError

SCHEMA_VERSION = 4
_SCHEMA = """
CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    status TEXT NOT NULL,
    origin TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    error TEXT,
    corpus TEXT,
    confidence_intervals TEXT,
    signatures TEXT
);
CREATE TABLE examples (
    run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    id TEXT NOT NULL,
    row TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    prediction TEXT,
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    latency_s REAL,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    finish_reason TEXT,
    generated_at TEXT,
    scores TEXT,
    PRIMARY KEY (run_id, position),
    UNIQUE (run_id, id)
);
CREATE INDEX runs_by_status ON runs (status);
"""
_ADDED_IN_2 = """
CREATE INDEX examples_by_status ON examples (run_id, status);
CREATE INDEX runs_by_time ON runs (created_at DESC, id);
CREATE TABLE example_scores (
    run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    metric TEXT NOT NULL,
    value REAL NOT NULL,
    position INTEGER NOT NULL,
    PRIMARY KEY (run_id, metric, value, position)
) WITHOUT ROWID;
"""
_ADDED_IN_3 = """
ALTER TABLE runs ADD COLUMN owner TEXT;
ALTER TABLE runs ADD COLUMN lease_expires REAL;
"""
_ADDED_IN_4 = """
ALTER TABLE examples ADD COLUMN citations TEXT;
"""
# Fills example_scores from a run's examples.scores: its metrics (:metrics, a JSON array),
# not ROUGE's components. SQLite reads JSON numbers back as the exact doubles Python wrote;
# rows go in in index order, which is several times faster than in any other order.
INDEX_SCORES = """
INSERT INTO example_scores (run_id, metric, value, position)
SELECT e.run_id, s.key, s.value, e.position FROM examples AS e, json_each(e.scores) AS s
WHERE e.run_id = :run_id AND s.key IN (SELECT value FROM json_each(:metrics))
    AND s.type IN ('real', 'integer')
ORDER BY 2, 3, 4
"""


def prepare(db: sqlite3.Connection, path: Path) -> None:
    """Create the tables, or bring an older store up to :data:`SCHEMA_VERSION`; raises
    :class:`StoreError` for a newer one."""
    db.execute("PRAGMA journal_mode = WAL")  # kept in the file: once is enough
    with transaction(db):
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"the run store {path} has schema version {version}, written by a newer "
                f"Liftoff; this one reads up to version {SCHEMA_VERSION}"
            )
        if version == 0:
            _execute_script(db, _SCHEMA + _ADDED_IN_2 + _ADDED_IN_3 + _ADDED_IN_4)
        else:
            # (Version 1 with later columns: a first-release Liftoff opened this store and
            # set its version back without changing a table; only what is missing is added.)
            if not _has_column(db, "examples", "prediction"):
                _upgrade_from_v1(db)
            if not _has_column(db, "runs", "owner"):
                _execute_script(db, _ADDED_IN_3)
            if not _has_column(db, "examples", "citations"):
                _execute_script(db, _ADDED_IN_4)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


@contextlib.contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A write transaction holding the write lock from its start (no upgrade deadlocks)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
        db.execute("COMMIT")  # a full disk can fail here too: then roll back as well
    except BaseException:
        if db.in_transaction:  # SQLite may have rolled back already (SQLITE_FULL, IOERR)
            db.execute("ROLLBACK")
        raise


def _has_column(db: sqlite3.Connection, table: str, column: str) -> bool:
    return any(row[1] == column for row in db.execute(f"PRAGMA table_info({table})"))


def _execute_script(db: sqlite3.Connection, script: str) -> None:
    # Statement by statement: executescript() would commit the transaction first.
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


def json_text(value: Any) -> str:
    """Compact JSON, as the JSON columns hold it."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _upgrade_from_v1(db: sqlite3.Connection) -> None:
    """Schema 1 → 2, inside the caller's transaction: a store is upgraded whole or not at all."""
    db.execute("ALTER TABLE examples RENAME COLUMN output TO prediction")
    db.execute("ALTER TABLE runs ADD COLUMN confidence_intervals TEXT")
    db.execute("ALTER TABLE runs ADD COLUMN signatures TEXT")
    _execute_script(db, _ADDED_IN_2)
    for row in db.execute("SELECT id, spec, corpus FROM runs").fetchall():
        spec = json.loads(row["spec"])
        spec["target"] = {
            "base_url": spec.pop("target"),
            "model": spec.pop("model"),
            "endpoint": spec.pop("endpoint", "auto"),
        }
        old = json.loads(row["corpus"]) if row["corpus"] else {}
        intervals = {
            name: {"low": s["ci"]["low"], "high": s["ci"]["high"], "level": CONFIDENCE_LEVEL}
            for name, s in old.items()
            if s.get("ci")
        }
        if old:
            db.execute(INDEX_SCORES, {"run_id": row["id"], "metrics": json_text(list(old))})
        db.execute(
            "UPDATE runs SET spec = ?, corpus = ?, confidence_intervals = ?, signatures = ? "
            "WHERE id = ?",
            (
                json_text(spec),
                json_text({name: s["score"] for name, s in old.items()}) if old else None,
                json_text(intervals) if intervals else None,
                json_text({name: s["signature"] for name, s in old.items()}) if old else None,
                row["id"],
            ),
        )
