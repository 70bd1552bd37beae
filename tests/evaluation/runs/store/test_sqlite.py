"""What only the SQLite run store does: WAL, one query per list, and stores written by earlier
releases upgraded in place (what both stores do: ``test_stores.py``)."""

from __future__ import annotations

import json
import sqlite3
import statistics
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from liftoff.evaluation.metrics import Citation
from liftoff.evaluation.runs.errors import StoreError
from liftoff.evaluation.runs.model import Generation
from liftoff.evaluation.runs.store.sqlite import SQLiteRunStore
from liftoff.evaluation.runs.store.sqlite_schema import SCHEMA_VERSION
from tests.evaluation.runs.stored import SPEC, completed_run, examples

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteRunStore]:
    runs = await SQLiteRunStore.open(tmp_path / "nested" / "runs.sqlite3")
    yield runs
    await runs.close()


async def test_the_store_is_created_with_its_directory_in_wal_mode(store: SQLiteRunStore) -> None:
    with sqlite3.connect(store.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    await store.check_writable()


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every SQL statement the stores opened from now on execute."""
    executed: list[str] = []
    connect = sqlite3.connect

    def traced(*args: object, **kwargs: object) -> sqlite3.Connection:
        db = connect(*args, **kwargs)  # type: ignore[arg-type]
        db.set_trace_callback(executed.append)
        return db

    monkeypatch.setattr(sqlite3, "connect", traced)
    yield executed


async def test_listing_a_thousand_runs_with_their_progress_is_one_query(
    tmp_path: Path, statements: list[str]
) -> None:
    store = await SQLiteRunStore.open(tmp_path / "runs.sqlite3")
    try:
        for index in range(30):
            run = await store.create_run(SPEC, examples([["a"]] * 3), origin="test")
            if index % 3 == 0:
                await store.record_output(run.id, "ex0", Generation(prediction="a", latency_s=0))
        statements.clear()
        runs = await store.list_runs(limit=1000)
        queries = [sql for sql in statements if not sql.startswith("PRAGMA")]  # new connections
        assert len(queries) == 1 and queries[0].lstrip().startswith("SELECT"), queries
    finally:
        await store.close()
    assert len(runs) == 30
    assert sum(run.progress.done for run in runs) == 10
    assert all(run.progress.total == 3 for run in runs)


def _v1_store(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.executescript((FIXTURES / "store-v1.sql").read_text())


async def test_a_store_of_the_first_release_is_upgraded_and_reads_the_same(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite3"
    _v1_store(path)
    with sqlite3.connect(path) as db:
        old = {row[0]: (json.loads(row[1]), row[2]) for row in db.execute(
            "SELECT id, corpus, status FROM runs WHERE corpus IS NOT NULL")}  # fmt: skip
        outputs = dict(db.execute("SELECT id, output FROM examples WHERE run_id = 'be99f8a278d6'"))
    store = await SQLiteRunStore.open(path)
    try:
        runs = {run.id: run for run in await store.list_runs()}
        for run_id, (corpus, status) in old.items():
            run = runs[run_id]
            assert run.status == status == "completed"
            assert run.corpus == {name: s["score"] for name, s in corpus.items()}
            assert run.signatures == {name: s["signature"] for name, s in corpus.items()}
            for name, s in corpus.items():
                interval = run.interval(name)
                assert interval is not None
                assert (interval.low, interval.high) == (s["ci"]["low"], s["ci"]["high"])
        first = runs["be99f8a278d6"]
        assert (first.target.base_url, first.target.model, first.target.endpoint) == (
            "http://127.0.0.1:41879/v1", "gemma-3-270m-q4_k_m", "auto",
        )  # fmt: skip
        assert first.generation.stop == ["\n"] and first.origin == "cli"
        records = await store.examples(first.id)
        assert {r.id: r.prediction for r in records} == outputs
        meteor = await store.distribution(first.id, "meteor", bins=10)  # indexed when upgraded
        assert meteor is not None and meteor.count == 4
        assert meteor.mean == pytest.approx(statistics.fmean(
            r.scores["meteor"] for r in records if r.scores))  # fmt: skip
        worst = await store.worst_examples(first.id, "bleu", 1, higher_is_better=True)
        assert [r.id for r in worst] == [min(records, key=lambda r: (r.scores or {})["bleu"]).id]
        assert records[0].metadata == {"topic": "nature"} and records[2].messages is not None
        failed = runs["bb91708eea84"]
        assert failed.status == "failed" and failed.corpus is None
        assert (failed.progress.failed, failed.progress.total) == (4, 4)
        # The interrupted service run resumes with the three examples it had not generated.
        assert await store.unowned_runs("service") == ["ca9a1a9320c9"]
        todo = await store.examples("ca9a1a9320c9", statuses=("pending", "failed"))
        assert [r.id for r in todo] == ["tags", "hello", "4"]
        assert (await store.create_run(SPEC, examples([["x"]]), origin="cli")).status == "queued"
    finally:
        await store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


async def test_a_store_the_first_release_opened_again_still_opens(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite3"
    _v1_store(path)
    await (await SQLiteRunStore.open(path)).close()  # upgraded to the current version
    with sqlite3.connect(path) as db:  # what the first release does when it opens a store
        db.execute("PRAGMA user_version = 1")
    store = await SQLiteRunStore.open(path)
    try:
        assert len(await store.list_runs()) == 4
    finally:
        await store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


async def test_a_store_from_a_newer_release_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE runs (id TEXT)")
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match=f"schema version {SCHEMA_VERSION + 1}, written by a"):
        await SQLiteRunStore.open(path)
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1


async def test_a_store_of_schema_3_gains_the_citations_column_and_keeps_its_runs(
    tmp_path: Path,
) -> None:
    path = tmp_path / "runs.sqlite3"
    store = await SQLiteRunStore.open(path)
    run = await completed_run(store, examples([["a b"], ["c d"]]), ["a b", "c"])
    await store.close()
    with sqlite3.connect(path) as db:  # as the release before citations left it
        db.execute("ALTER TABLE examples DROP COLUMN citations")
        db.execute("PRAGMA user_version = 3")
    store = await SQLiteRunStore.open(path)
    try:
        assert await store.get_run(run.id) == run
        assert [r.citations for r in await store.examples(run.id)] == [None, None]
        again = await store.create_run(SPEC, examples([["x"]]), origin="test")
        await store.record_output(again.id, "ex0", Generation(
            prediction="x", latency_s=0.1, citations=(Citation(source="a.md"),)))  # fmt: skip
        assert (await store.examples(again.id))[0].citations == (Citation(source="a.md"),)
    finally:
        await store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 4
