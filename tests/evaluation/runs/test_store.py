"""The SQLite run store: WAL, atomic creation, outputs kept one by one, scores stored, one query
per list, and stores written by the first release upgraded in place."""

from __future__ import annotations

import json
import sqlite3
import statistics
from collections.abc import Iterator
from pathlib import Path

import pytest

from liftoff.evaluation.metrics import Citation, Passage, score
from liftoff.evaluation.runs.dataset import Example
from liftoff.evaluation.runs.errors import RunNotFound, StoreError
from liftoff.evaluation.runs.executor import RunExecutor
from liftoff.evaluation.runs.model import Generation, Run
from liftoff.evaluation.runs.store.sqlite import SQLiteRunStore
from liftoff.evaluation.runs.store.sqlite_schema import SCHEMA_VERSION
from tests.evaluation.runs.stored import FAST, SPEC, completed_run, examples, score_here

FIXTURES = Path(__file__).parent / "fixtures"


async def test_the_store_is_created_with_its_directory_in_wal_mode(store: SQLiteRunStore) -> None:
    with sqlite3.connect(store.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    await store.check_writable()


async def test_a_run_and_its_examples_are_created_together_or_not_at_all(
    store: SQLiteRunStore,
) -> None:
    duplicate = [Example(id="same", references=("a",), prompt="x"),
                 Example(id="same", references=("b",), prompt="y")]  # fmt: skip
    with pytest.raises(sqlite3.IntegrityError):
        await store.create_run(SPEC, duplicate, origin="test")
    assert await store.list_runs() == []
    with sqlite3.connect(store.path) as db:
        assert db.execute("SELECT count(*) FROM examples").fetchone()[0] == 0


async def test_outputs_are_committed_one_by_one_and_survive_reopening(
    store: SQLiteRunStore,
) -> None:
    run = await store.create_run(SPEC, examples([["a"], ["b"], ["c"]]), origin="service")
    assert run.status == "queued" and run.progress.pending == 3
    answer = Generation(prediction="out a", latency_s=0.5, prompt_tokens=3, completion_tokens=2,
                        finish_reason="stop")  # fmt: skip
    await store.record_output(run.id, "ex0", answer)
    await store.record_failure(run.id, "ex2", "the target answered 500: boom")
    reopened = await SQLiteRunStore.open(store.path)  # another connection sees the commits
    try:
        progress = (await reopened.get_run(run.id)).progress
        assert (progress.done, progress.failed, progress.pending) == (1, 1, 1)
        todo = await reopened.examples(run.id, statuses=("pending", "failed"))
        assert [r.id for r in todo] == ["ex1", "ex2"]
        first = (await reopened.examples(run.id, limit=1))[0]
        assert (first.prediction, first.attempts, first.prompt_tokens, first.finish_reason) == (
            "out a", 1, 3, "stop",
        )  # fmt: skip
        assert await reopened.unfinished_runs("service") == [run.id]
        assert await reopened.unfinished_runs("cli") == []
    finally:
        await reopened.close()


async def test_scores_are_stored_per_example_and_for_the_corpus(store: SQLiteRunStore) -> None:
    rows = examples([["the cat sat on the mat"], ["a dog barked", "the dog barked"]])
    predictions = ["the cat sat on a mat", "a dog barked loudly"]
    run = await completed_run(store, rows, predictions)
    expected = score(predictions, [list(r.references) for r in rows], FAST)
    assert run.status == "completed"
    assert run.corpus == {name: s.corpus for name, s in expected.items()}
    assert run.signatures is not None and run.signatures["bleu"] == expected["bleu"].signature
    ci, stored_ci = expected["rougeL"].ci, run.interval("rougeL")
    assert ci is not None and stored_ci is not None
    assert (stored_ci.low, stored_ci.high, stored_ci.level) == (ci.low, ci.high, 0.95)
    stored = await store.examples(run.id)
    assert [r.scores["bleu"] for r in stored if r.scores] == list(expected["bleu"].per_example)
    assert stored[1].scores is not None
    assert stored[1].scores["rougeL_precision"] == expected["rougeL"].components["precision"][1]
    assert await store.unfinished_runs("test") == []
    values = expected["ter"].per_example
    ter = await store.distribution(run.id, "ter", bins=10)
    assert ter is not None and (ter.count, sum(ter.counts), ter.top) == (2, 2, max(100, *values))
    assert ter.mean == pytest.approx(statistics.fmean(values), abs=1e-12)
    assert ter.median == pytest.approx(statistics.median(values), abs=1e-12)
    assert await store.distribution(run.id, "meteor", bins=10) is None  # not scored with it


async def test_the_worst_examples_come_first_ties_in_dataset_order(store: SQLiteRunStore) -> None:
    rows = examples([["the cat sat on the mat"]] * 4)
    predictions = ["the cat sat on the mat", "a dog", "the cat sat", "a dog"]
    run = await completed_run(store, rows, predictions, ["bleu", "ter"])
    worst_bleu = await store.worst_examples(run.id, "bleu", 3, higher_is_better=True)
    assert [r.id for r in worst_bleu] == ["ex1", "ex3", "ex2"]
    worst_ter = await store.worst_examples(run.id, "ter", 1, higher_is_better=False)
    assert [r.id for r in worst_ter] == ["ex1"]  # the highest TER is the worst
    assert await store.worst_examples(run.id, "meteor", 3, higher_is_better=True) == []


async def test_unknown_runs_are_reported(store: SQLiteRunStore) -> None:
    with pytest.raises(RunNotFound, match="no run 'nope' in the store"):
        await store.get_run("nope")
    with pytest.raises(RunNotFound):
        await store.examples("nope")
    with pytest.raises(RunNotFound):
        await store.distribution("nope", "bleu", bins=10)


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
        assert await store.unfinished_runs("service") == ["ca9a1a9320c9"]
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


async def test_a_run_read_back_is_the_run_that_was_sent(store: SQLiteRunStore) -> None:
    run = await completed_run(store, examples([["a b c"], ["d e"]]), ["a b", "d e"])
    wire = json.loads(run.model_dump_json())
    assert Run.model_validate(wire) == run == await store.get_run(run.id)
    assert wire["object"] == "evaluation.run" and wire["progress"]["pending"] == 0
    assert wire["target"] == {"base_url": "http://127.0.0.1:9/v1", "model": "m",
                              "endpoint": "auto"}  # fmt: skip


async def test_citations_and_passages_are_kept_with_each_example(store: SQLiteRunStore) -> None:
    rows = [
        Example(id="q", prompt="x", references=("y",), passages=(Passage(id="a.md"),)),
        Example(id="none", prompt="x", references=("I don't know.",), passages=()),
        Example(id="plain", prompt="x", references=("y",)),
    ]
    cited = (Citation(index=1, source="a.md", chunk=0, start=0, score=0.83, text="A."),
             Citation(id="https://example.org/b"))  # fmt: skip
    run = await store.create_run(SPEC, rows, origin="test")
    await store.record_output(run.id, "q", Generation(prediction="A", latency_s=0.1,
                                                      citations=cited))  # fmt: skip
    await store.record_output(run.id, "none", Generation(prediction="I don't know.",
                                                         latency_s=0.1, citations=()))  # fmt: skip
    await store.record_output(run.id, "plain", Generation(prediction="y", latency_s=0.1))
    q, none, plain = await store.examples(run.id)
    assert (q.citations, none.citations, plain.citations) == (cited, (), None)
    assert (q.passages, none.passages, plain.passages) == ((Passage(id="a.md"),), (), None)
    assert "citations" not in plain.model_dump(mode="json")  # only where a target sent them


async def test_retrieval_scores_are_stored_only_where_they_apply(store: SQLiteRunStore) -> None:
    rows = [
        Example(id=f"q{i}", prompt="x", references=("y",), passages=(Passage(id="gold.md"),))
        for i in range(3)
    ] + [Example(id="none", prompt="x", references=("I don't know.",), passages=())]
    run = await store.create_run(
        SPEC.model_copy(update={"metrics": ("hit_rate@1", "mrr", "abstention")}), rows,
        origin="test",
    )  # fmt: skip
    cited = {"q0": ["gold.md"], "q1": ["x.md", "gold.md"], "q2": ["x.md"], "none": []}
    for row in rows:
        answer = "I don't know." if row.id == "none" else "An answer."
        await store.record_output(run.id, row.id, Generation(
            prediction=answer, latency_s=0.1, citations=tuple(map(Citation.model_validate,
                                                                   cited[row.id]))))  # fmt: skip
    run = await RunExecutor(store, score_here).score(run.id)
    assert run.status == "completed", run.error
    assert run.corpus == {"hit_rate@1": pytest.approx(1 / 3), "mrr": pytest.approx(0.5),
                          "abstention": 1.0}  # fmt: skip
    records = {r.id: r.scores for r in await store.examples(run.id)}
    assert records["none"] == {"abstention": 1.0}
    assert records["q1"] == {"hit_rate@1": 0.0, "mrr": 0.5}
    hits = await store.distribution(run.id, "hit_rate@1", bins=2)
    assert hits is not None and (hits.count, hits.counts, hits.top) == (3, [2, 1], 1.0)
    worst = await store.worst_examples(run.id, "mrr", 2, higher_is_better=True)
    assert [r.id for r in worst] == ["q2", "q1"]


async def test_a_store_of_schema_2_gains_the_citations_column_and_keeps_its_runs(
    tmp_path: Path,
) -> None:
    path = tmp_path / "runs.sqlite3"
    store = await SQLiteRunStore.open(path)
    run = await completed_run(store, examples([["a b"], ["c d"]]), ["a b", "c"])
    await store.close()
    with sqlite3.connect(path) as db:  # as the release before citations left it
        db.execute("ALTER TABLE examples DROP COLUMN citations")
        db.execute("PRAGMA user_version = 2")
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
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3
