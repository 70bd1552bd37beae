"""Both run stores against one specification: SQLite and a real Postgres. Creation is atomic,
outputs are kept one by one, scores per example and for the corpus, reports read their
numbers from the store, and records read back as they were sent."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import statistics

import psycopg
import pytest

from liftoff.evaluation.metrics import Citation, Passage, score
from liftoff.evaluation.runs.dataset import Example, Message
from liftoff.evaluation.runs.errors import RunNotFound
from liftoff.evaluation.runs.executor import RunExecutor
from liftoff.evaluation.runs.model import Generation, Run
from liftoff.evaluation.runs.store import RunStore
from tests.evaluation.conftest import Opener
from tests.evaluation.runs.stored import FAST, SPEC, completed_run, examples, score_here


async def test_a_new_store_takes_writes(store: RunStore) -> None:
    await store.check_writable()
    assert await store.list_runs() == []
    assert "password" not in store.describe() and ":@" not in store.describe()


async def test_a_run_and_its_examples_are_created_together_or_not_at_all(
    store: RunStore,
) -> None:
    duplicate = [Example(id="same", references=("a",), prompt="x"),
                 Example(id="same", references=("b",), prompt="y")]  # fmt: skip
    with pytest.raises((sqlite3.IntegrityError, psycopg.errors.UniqueViolation)):
        await store.create_run(SPEC, duplicate, origin="test")
    assert await store.list_runs() == []  # examples cannot outlive their run (foreign key)


async def test_outputs_are_committed_one_by_one_and_seen_by_another_handle(
    store: RunStore, opener: Opener
) -> None:
    run = await store.create_run(SPEC, examples([["a"], ["b"], ["c"]]), origin="service")
    assert run.status == "queued" and run.progress.pending == 3
    answer = Generation(prediction="out a", latency_s=0.5, prompt_tokens=3, completion_tokens=2,
                        finish_reason="stop")  # fmt: skip
    await store.record_output(run.id, "ex0", answer)
    await store.record_failure(run.id, "ex2", "the target answered 500: boom")
    other = await opener()  # its own connections, as another process would have
    try:
        progress = (await other.get_run(run.id)).progress
        assert (progress.done, progress.failed, progress.pending) == (1, 1, 1)
        todo = await other.examples(run.id, statuses=("pending", "failed"))
        assert [r.id for r in todo] == ["ex1", "ex2"]
        assert todo[1].error == "the target answered 500: boom" and todo[1].attempts == 1
        first = (await other.examples(run.id, limit=1))[0]
        assert (first.prediction, first.attempts, first.prompt_tokens, first.finish_reason) == (
            "out a", 1, 3, "stop",
        )  # fmt: skip
        assert first.latency_s == 0.5 and first.generated_at is not None
        assert first.generated_at.endswith("Z") and len(first.generated_at) == 24
        assert [r.id for r in await other.examples(run.id, offset=1, limit=5)] == ["ex1", "ex2"]
        assert await other.unowned_runs("service") == [run.id]
        assert await other.unowned_runs("cli") == []
    finally:
        await other.close()


async def test_scores_are_stored_per_example_and_for_the_corpus(store: RunStore) -> None:
    rows = examples([["the cat sat on the mat"], ["a dog barked", "the dog barked"]])
    predictions = ["the cat sat on a mat", "a dog barked loudly"]
    run = await completed_run(store, rows, predictions)
    expected = score(predictions, [list(r.references) for r in rows], FAST)
    assert run.status == "completed"
    assert run.corpus == {name: s.corpus for name, s in expected.items()}
    assert list(run.corpus) == list(FAST)  # keys in the run's order of metrics
    assert run.signatures is not None and run.signatures["bleu"] == expected["bleu"].signature
    ci, stored_ci = expected["rougeL"].ci, run.interval("rougeL")
    assert ci is not None and stored_ci is not None
    assert (stored_ci.low, stored_ci.high, stored_ci.level) == (ci.low, ci.high, 0.95)
    stored = await store.examples(run.id)
    assert [r.scores["bleu"] for r in stored if r.scores] == list(expected["bleu"].per_example)
    assert stored[1].scores is not None
    assert stored[1].scores["rougeL_precision"] == expected["rougeL"].components["precision"][1]
    assert await store.unowned_runs("test") == []
    values = expected["ter"].per_example
    ter = await store.distribution(run.id, "ter", bins=10)
    assert ter is not None and (ter.count, sum(ter.counts), ter.top) == (2, 2, max(100, *values))
    assert ter.mean == pytest.approx(statistics.fmean(values), abs=1e-12)
    assert ter.median == pytest.approx(statistics.median(values), abs=1e-12)
    assert await store.distribution(run.id, "meteor", bins=10) is None  # not scored with it


async def test_a_distribution_bins_every_score_and_takes_the_middle_of_an_odd_count(
    store: RunStore,
) -> None:
    rows = examples([["a b c d"]] * 5)
    predictions = ["a b c d", "a b c", "a b", "a", "x"]
    run = await completed_run(store, rows, predictions, ["chrf"])
    values = score(predictions, [list(r.references) for r in rows], ["chrf"])["chrf"].per_example
    chrf = await store.distribution(run.id, "chrf", bins=4)
    assert chrf is not None and chrf.median == statistics.median(values)
    assert chrf.counts == [sum(1 for v in values if min(int(v / 100 * 4), 3) == i)
                           for i in range(4)]  # fmt: skip
    assert chrf.counts[3] >= 1  # a perfect 100 falls in the last bin


async def test_the_worst_examples_come_first_ties_in_dataset_order(store: RunStore) -> None:
    rows = examples([["the cat sat on the mat"]] * 4)
    predictions = ["the cat sat on the mat", "a dog", "the cat sat", "a dog"]
    run = await completed_run(store, rows, predictions, ["bleu", "ter"])
    worst_bleu = await store.worst_examples(run.id, "bleu", 3, higher_is_better=True)
    assert [r.id for r in worst_bleu] == ["ex1", "ex3", "ex2"]
    worst_ter = await store.worst_examples(run.id, "ter", 1, higher_is_better=False)
    assert [r.id for r in worst_ter] == ["ex1"]  # the highest TER is the worst
    assert await store.worst_examples(run.id, "meteor", 3, higher_is_better=True) == []


async def test_unknown_runs_are_reported(store: RunStore) -> None:
    with pytest.raises(RunNotFound, match="no run 'nope' in the store"):
        await store.get_run("nope")
    with pytest.raises(RunNotFound):
        await store.examples("nope")
    with pytest.raises(RunNotFound):
        await store.distribution("nope", "bleu", bins=10)
    with pytest.raises(RunNotFound):
        await store.worst_examples("nope", "bleu", 3, higher_is_better=True)


async def test_runs_are_listed_newest_first_with_their_progress(store: RunStore) -> None:
    created = []
    for index in range(5):
        run = await store.create_run(SPEC, examples([["a"]] * 3), origin="test")
        if index % 2 == 0:
            await store.record_output(run.id, "ex0", Generation(prediction="a", latency_s=0))
        created.append(run.id)
        await asyncio.sleep(0.002)  # times are kept to the millisecond
    listed = await store.list_runs(limit=1000)
    assert [run.id for run in listed] == created[::-1]
    assert [run.progress.done for run in listed] == [1, 0, 1, 0, 1]
    page = await store.list_runs(limit=2, offset=1)
    assert [run.id for run in page] == created[::-1][1:3]


async def test_a_run_read_back_is_the_run_that_was_sent(store: RunStore) -> None:
    run = await completed_run(store, examples([["a b c"], ["d e"]]), ["a b", "d e"])
    wire = json.loads(run.model_dump_json())
    assert Run.model_validate(wire) == run == await store.get_run(run.id)
    assert wire["object"] == "evaluation.run" and wire["progress"]["pending"] == 0
    assert wire["target"] == {"base_url": "http://127.0.0.1:9/v1", "model": "m",
                              "endpoint": "auto"}  # fmt: skip
    assert run.created_at <= run.updated_at and run.created_at.endswith("Z")
    rows = [Example(id="m", messages=(Message(role="user", content="hé <b> \u2028"),),
                    references=("x",), metadata={"topic": "ünïcode", "n": 1.5})]  # fmt: skip
    stored = await store.create_run(SPEC, rows, origin="test")
    (record,) = await store.examples(stored.id)
    assert Example.model_validate(record.model_dump(include=set(Example.model_fields))) == rows[0]


async def test_citations_and_passages_are_kept_with_each_example(store: RunStore) -> None:
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


async def test_retrieval_scores_are_stored_only_where_they_apply(store: RunStore) -> None:
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
