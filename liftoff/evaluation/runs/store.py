"""Runs in SQLite (stdlib ``sqlite3``, WAL): one row per run, one per example.

Every generated output is committed the moment it arrives, so a run interrupted by a crash
or a restart resumes with only the examples that have no output yet. A run and all its
examples are inserted in one transaction: a rejected request never leaves half a run.

    >>> store = RunStore(Path("/tmp/runs.sqlite3"))            # doctest: +SKIP
    >>> run = store.create_run(spec, examples, origin="cli")   # doctest: +SKIP
    >>> store.record_output(run.id, 0, Generation("4", ...))   # doctest: +SKIP

WAL with ``synchronous=NORMAL``: a committed output survives the process being killed; only
a power cut can lose the last few. One connection per store object, used from one thread.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from liftoff.evaluation.metrics import Score
from liftoff.evaluation.runs.dataset import Example, Message
from liftoff.evaluation.runs.errors import RunNotFound
from liftoff.evaluation.runs.model import (
    UNFINISHED,
    CorpusScore,
    ExampleRecord,
    ExampleStatus,
    Progress,
    RunRecord,
    RunSpec,
    RunStatus,
)

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    status TEXT NOT NULL,
    origin TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    error TEXT,
    corpus TEXT
);
CREATE TABLE IF NOT EXISTS examples (
    run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    id TEXT NOT NULL,
    row TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    output TEXT,
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
CREATE INDEX IF NOT EXISTS runs_by_status ON runs (status);
"""


@dataclass(frozen=True)
class Generation:
    """What the target answered for one example."""

    text: str
    latency_s: float
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None


def now() -> str:
    """UTC time as ISO 8601 with milliseconds (sorts as text)."""
    stamp = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(stamp)) + f".{int(stamp % 1 * 1000):03d}Z"


class RunStore:
    """Runs and their examples in one SQLite file (created with its directory when missing)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, timeout=10)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = NORMAL")
        self._db.execute("PRAGMA foreign_keys = ON")
        with self._db:
            self._db.executescript(_SCHEMA)
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def close(self) -> None:
        self._db.close()

    def check_writable(self) -> None:
        """Take the write lock and let go: raises ``sqlite3.Error`` when the store is read-only,
        locked for longer than the timeout, or gone."""
        self._db.execute("BEGIN IMMEDIATE")
        self._db.execute("ROLLBACK")

    # Runs.

    def create_run(self, spec: RunSpec, examples: Sequence[Example], *, origin: str) -> RunRecord:
        """Insert a queued run and all its examples atomically; returns it."""
        run_id = uuid.uuid4().hex[:12]
        stamp = now()
        with self._db:
            self._db.execute(
                "INSERT INTO runs (id, spec, status, origin, created_at, updated_at) "
                "VALUES (?, ?, 'queued', ?, ?, ?)",
                (run_id, spec.model_dump_json(), origin, stamp, stamp),
            )
            self._db.executemany(
                "INSERT INTO examples (run_id, position, id, row) VALUES (?, ?, ?, ?)",
                (
                    (run_id, position, example.id, json.dumps(example.to_json()))
                    for position, example in enumerate(examples)
                ),
            )
        return self.get_run(run_id)

    def get_run(self, run_id: str) -> RunRecord:
        row = self._db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise RunNotFound(run_id)
        return self._run(row)

    def list_runs(self, *, limit: int = 50, offset: int = 0) -> list[RunRecord]:
        rows = self._db.execute(
            "SELECT * FROM runs ORDER BY created_at DESC, id LIMIT ? OFFSET ?", (limit, offset)
        ).fetchall()
        return [self._run(row) for row in rows]

    def unfinished_runs(self, origin: str) -> list[str]:
        """Ids of runs from ``origin`` that were queued, generating or scoring, oldest first."""
        marks = ", ".join("?" for _ in UNFINISHED)
        rows = self._db.execute(
            f"SELECT id FROM runs WHERE origin = ? AND status IN ({marks}) ORDER BY created_at",
            (origin, *UNFINISHED),
        ).fetchall()
        return [row["id"] for row in rows]

    def set_status(self, run_id: str, status: RunStatus, *, error: str | None = None) -> None:
        with self._db:
            self._db.execute(
                "UPDATE runs SET status = ?, error = ?, updated_at = ? WHERE id = ?",
                (status, error, now(), run_id),
            )

    def record_scores(
        self, run_id: str, results: Mapping[str, Score], positions: Sequence[int]
    ) -> RunRecord:
        """Store every example's scores and the corpus scores; the run becomes completed.

        ``positions`` lists the examples that were scored, in the order of the scores.
        """
        per_example: list[dict[str, float]] = [{} for _ in positions]
        for name, result in results.items():
            for index, value in enumerate(result.per_example):
                per_example[index][name] = value
            for component, values in result.components.items():
                for index, value in enumerate(values):
                    per_example[index][f"{name}_{component}"] = value
        corpus = {
            name: CorpusScore(
                score=result.corpus,
                signature=result.signature,
                scale=result.scale,
                ci_low=result.ci.low if result.ci else None,
                ci_high=result.ci.high if result.ci else None,
            ).to_json()
            for name, result in results.items()
        }
        with self._db:
            self._db.executemany(
                "UPDATE examples SET scores = ? WHERE run_id = ? AND position = ?",
                (
                    (json.dumps(scores), run_id, position)
                    for scores, position in zip(per_example, positions, strict=True)
                ),
            )
            self._db.execute(
                "UPDATE runs SET status = 'completed', error = NULL, corpus = ?, updated_at = ? "
                "WHERE id = ?",
                (json.dumps(corpus), now(), run_id),
            )
        return self.get_run(run_id)

    # Examples.

    def examples(
        self,
        run_id: str,
        *,
        statuses: Iterable[ExampleStatus] | None = None,
        offset: int = 0,
        limit: int | None = None,
    ) -> list[ExampleRecord]:
        """A run's examples in dataset order, optionally only those in ``statuses``."""
        self.get_run(run_id)  # RunNotFound for an unknown id
        query = "SELECT * FROM examples WHERE run_id = ?"
        params: list[Any] = [run_id]
        if statuses is not None:
            wanted = list(statuses)
            query += f" AND status IN ({', '.join('?' for _ in wanted)})"
            params += wanted
        query += " ORDER BY position LIMIT ? OFFSET ?"
        params += [-1 if limit is None else limit, offset]
        return [_example(row) for row in self._db.execute(query, params)]

    def record_output(self, run_id: str, position: int, generation: Generation) -> None:
        """Commit one generated output at once: this is what a resumed run does not redo."""
        with self._db:
            self._db.execute(
                "UPDATE examples SET status = 'done', output = ?, error = NULL, "
                "attempts = attempts + 1, latency_s = ?, prompt_tokens = ?, "
                "completion_tokens = ?, finish_reason = ?, generated_at = ? "
                "WHERE run_id = ? AND position = ?",
                (
                    generation.text,
                    generation.latency_s,
                    generation.prompt_tokens,
                    generation.completion_tokens,
                    generation.finish_reason,
                    now(),
                    run_id,
                    position,
                ),
            )

    def record_failure(self, run_id: str, position: int, error: str) -> None:
        with self._db:
            self._db.execute(
                "UPDATE examples SET status = 'failed', error = ?, attempts = attempts + 1 "
                "WHERE run_id = ? AND position = ?",
                (error, run_id, position),
            )

    def _run(self, row: sqlite3.Row) -> RunRecord:
        counts = dict(
            self._db.execute(
                "SELECT status, count(*) FROM examples WHERE run_id = ? GROUP BY status",
                (row["id"],),
            ).fetchall()
        )
        corpus = json.loads(row["corpus"]) if row["corpus"] else {}
        return RunRecord(
            id=row["id"],
            spec=RunSpec.model_validate_json(row["spec"]),
            status=row["status"],
            origin=row["origin"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            progress=Progress(
                total=sum(counts.values()),
                done=counts.get("done", 0),
                failed=counts.get("failed", 0),
            ),
            error=row["error"],
            corpus={name: CorpusScore.from_json(data) for name, data in corpus.items()},
        )


def _example(row: sqlite3.Row) -> ExampleRecord:
    data = json.loads(row["row"])
    messages = data.get("messages")
    return ExampleRecord(
        position=row["position"],
        example=Example(
            id=data["id"],
            references=tuple(data["references"]),
            prompt=data.get("prompt"),
            messages=tuple(Message(m["role"], m["content"]) for m in messages)
            if messages is not None
            else None,
            metadata=data.get("metadata", {}),
        ),
        status=row["status"],
        output=row["output"],
        error=row["error"],
        attempts=row["attempts"],
        latency_s=row["latency_s"],
        prompt_tokens=row["prompt_tokens"],
        completion_tokens=row["completion_tokens"],
        finish_reason=row["finish_reason"],
        generated_at=row["generated_at"],
        scores=json.loads(row["scores"]) if row["scores"] else None,
    )
