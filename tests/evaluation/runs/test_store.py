"""The SQLite run store: WAL, atomic creation, outputs kept one by one, scores stored."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from liftoff.evaluation.metrics import score
from liftoff.evaluation.runs.dataset import Example
from liftoff.evaluation.runs.errors import RunNotFound
from liftoff.evaluation.runs.model import RunSpec
from liftoff.evaluation.runs.store import Generation, RunStore
from tests.evaluation.runs.stored import FAST, completed_run, examples

SPEC = RunSpec(target="http://127.0.0.1:9/v1", model="m", metrics=("bleu",))


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    return RunStore(tmp_path / "nested" / "runs.sqlite3")


def test_the_store_is_created_with_its_directory_in_wal_mode(store: RunStore) -> None:
    with sqlite3.connect(store.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.check_writable()


def test_a_run_and_its_examples_are_created_together_or_not_at_all(store: RunStore) -> None:
    duplicate = [Example("same", ("a",), prompt="x"), Example("same", ("b",), prompt="y")]
    with pytest.raises(sqlite3.IntegrityError):
        store.create_run(SPEC, duplicate, origin="test")
    assert store.list_runs() == []
    assert store.path.stat().st_size > 0
    with sqlite3.connect(store.path) as db:
        assert db.execute("SELECT count(*) FROM examples").fetchone()[0] == 0


def test_outputs_are_committed_one_by_one_and_survive_reopening(store: RunStore) -> None:
    run = store.create_run(SPEC, examples([["a"], ["b"], ["c"]]), origin="service")
    assert run.status == "queued" and run.progress.pending == 3
    store.record_output(run.id, 0, Generation("out a", 0.5, 3, 2, "stop"))
    store.record_failure(run.id, 2, "the target answered 500: boom")
    reopened = RunStore(store.path)  # another connection sees the commits: nothing buffered
    progress = reopened.get_run(run.id).progress
    assert (progress.done, progress.failed, progress.pending) == (1, 1, 1)
    todo = reopened.examples(run.id, statuses=("pending", "failed"))
    assert [r.example.id for r in todo] == ["ex1", "ex2"]
    first = reopened.examples(run.id, limit=1)[0]
    assert (first.output, first.attempts, first.prompt_tokens, first.finish_reason) == (
        "out a", 1, 3, "stop",
    )  # fmt: skip
    assert reopened.unfinished_runs("service") == [run.id]
    assert reopened.unfinished_runs("cli") == []


def test_scores_are_stored_per_example_and_for_the_corpus(store: RunStore) -> None:
    rows = examples([["the cat sat on the mat"], ["a dog barked", "the dog barked"]])
    predictions = ["the cat sat on a mat", "a dog barked loudly"]
    run = completed_run(store, rows, predictions)
    expected = score(predictions, [list(r.references) for r in rows], FAST)
    assert run.status == "completed"
    assert {name: s.score for name, s in run.corpus.items()} == {
        name: s.corpus for name, s in expected.items()
    }
    assert run.corpus["bleu"].signature == expected["bleu"].signature
    ci = expected["rougeL"].ci
    assert ci is not None and (run.corpus["rougeL"].ci_low, run.corpus["rougeL"].ci_high) == (
        ci.low, ci.high,
    )  # fmt: skip
    stored = store.examples(run.id)
    assert [r.scores["bleu"] for r in stored if r.scores] == list(expected["bleu"].per_example)
    assert stored[1].scores is not None
    assert stored[1].scores["rougeL_precision"] == expected["rougeL"].components["precision"][1]
    assert store.unfinished_runs("test") == []


def test_unknown_runs_are_reported(store: RunStore) -> None:
    with pytest.raises(RunNotFound, match="no run 'nope' in the store"):
        store.get_run("nope")
    with pytest.raises(RunNotFound):
        store.examples("nope")
