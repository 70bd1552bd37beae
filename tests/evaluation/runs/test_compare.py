"""Paired comparison of two runs: deltas equal the libraries' corpus scores, seeded intervals."""

from __future__ import annotations

import pytest

from liftoff.evaluation.metrics import ScoreOptions, score
from liftoff.evaluation.runs.compare import compare
from liftoff.evaluation.runs.errors import RunNotComparable
from liftoff.evaluation.runs.executor import RunExecutor
from liftoff.evaluation.runs.model import Generation, LoadedRun
from liftoff.evaluation.runs.store import RunStore
from tests.evaluation.runs.stored import (
    FAST,
    SPEC,
    completed_retrieval_run,
    completed_run,
    examples,
    loaded,
    score_here,
)

REFERENCES = [
    ["the cat sat on the mat"], ["a dog barked at the mailman"], ["it is raining today"],
    ["the sun rises in the east", "sunrise is in the east"], ["water boils at 100 degrees"],
    ["bees make honey"], ["the capital of italy is rome"], ["spiders have eight legs"],
]  # fmt: skip
WORSE = ["a cat", "dog", "raining", "the sun", "water is wet", "bees", "rome", "legs"]
BETTER = [
    "the cat sat on a mat", "a dog barked at a mailman", "it is raining today",
    "the sun rises in the east", "water boils at 100 degrees celsius", "bees make honey",
    "rome is the capital of italy", "a spider has eight legs",
]  # fmt: skip


async def _loaded(store: RunStore, predictions: list[str], prefix: str = "ex") -> LoadedRun:
    run = await completed_run(store, examples(REFERENCES, prefix), predictions)
    return await loaded(store, run.id)


async def test_deltas_are_the_corpus_scores_of_both_runs_with_a_paired_interval(
    store: RunStore,
) -> None:
    baseline, candidate = await _loaded(store, WORSE), await _loaded(store, BETTER)
    comparison = compare(baseline, candidate)
    before = score(WORSE, REFERENCES, FAST)
    after = score(BETTER, REFERENCES, FAST)
    assert comparison.examples == len(REFERENCES)
    assert list(comparison.metrics) == list(FAST)
    for name, delta in comparison.metrics.items():
        assert delta.baseline == pytest.approx(before[name].corpus, abs=1e-9)
        assert delta.candidate == pytest.approx(after[name].corpus, abs=1e-9)
        assert delta.ci.low <= delta.delta <= delta.ci.high
        assert delta.improved > 0  # better on every metric, TER included (it went down)
    assert comparison.metrics["ter"].delta < 0 and not comparison.metrics["ter"].higher_is_better
    assert comparison.metrics["bleu"].significant
    assert compare(baseline, candidate) == comparison  # seeded: the same interval every time
    same = compare(candidate, candidate)
    assert all(d.delta == 0 and d.ci.low == d.ci.high == 0 for d in same.metrics.values())


async def test_only_examples_in_both_runs_are_paired(store: RunStore) -> None:
    baseline = await _loaded(store, WORSE)
    rows = examples(REFERENCES[:3]) + examples(REFERENCES[3:4], "new")
    other = await completed_run(store, rows, BETTER[:4])
    comparison = compare(baseline, await loaded(store, other.id))
    assert (comparison.examples, comparison.only_in_baseline, comparison.only_in_candidate) == (
        3, 5, 1,
    )  # fmt: skip
    expected = score(BETTER[:3], REFERENCES[:3], ["bleu"])["bleu"].corpus
    assert comparison.metrics["bleu"].candidate == pytest.approx(expected, abs=1e-9)


async def test_unfinished_or_disjoint_runs_do_not_compare(store: RunStore) -> None:
    baseline = await _loaded(store, WORSE)
    disjoint = await _loaded(store, BETTER, prefix="other")
    with pytest.raises(RunNotComparable, match="no example id in common"):
        compare(baseline, disjoint)
    queued = await store.create_run(baseline.run, examples(REFERENCES), origin="test")
    with pytest.raises(RunNotComparable, match=f"run {queued.id} is queued, not completed"):
        compare(baseline, await loaded(store, queued.id))


async def test_runs_scored_with_different_meteor_tokenizations_do_not_compare(
    store: RunStore,
) -> None:
    runs = []
    for tokenize in ("nltk-word", "nltk-word-tokenize"):
        options = ScoreOptions.model_validate({"meteor": {"tokenize": tokenize}})
        spec = SPEC.model_copy(update={"metrics": ("meteor",), "options": options})
        run = await store.create_run(spec, examples(REFERENCES), origin="test")
        for row, prediction in zip(examples(REFERENCES), BETTER, strict=True):
            await store.record_output(
                run.id, row.id, Generation(prediction=prediction, latency_s=0.01)
            )
        run = await RunExecutor(store, score_here).score(run.id)
        runs.append(await loaded(store, run.id))
    with pytest.raises(RunNotComparable, match="METEOR with different tokenizations"):
        compare(*runs)


async def test_retrieval_runs_compare_on_hit_rate_mrr_and_abstention(store: RunStore) -> None:
    worse = [3, None, 2, 1, None, 3, "none", "none"]
    better = [1, 1, 2, 1, 3, 1, "none", "none"]
    baseline = await loaded(store, (await completed_retrieval_run(store, worse)).id)
    candidate = await loaded(store, (await completed_retrieval_run(store, better)).id)
    comparison = compare(baseline, candidate)
    assert list(comparison.metrics) == ["hit_rate@1", "mrr@3", "abstention"]
    hits = comparison.metrics["hit_rate@1"]
    assert (hits.baseline, hits.candidate) == (pytest.approx(1 / 6), pytest.approx(4 / 6))
    mrr = comparison.metrics["mrr@3"]
    assert mrr.baseline == pytest.approx((1 / 3 + 1 / 2 + 1 + 1 / 3) / 6)
    assert mrr.candidate == pytest.approx((1 + 1 + 1 / 2 + 1 + 1 / 3 + 1) / 6)
    assert hits.ci.low <= hits.delta <= hits.ci.high and hits.improved > 0
    abstention = comparison.metrics["abstention"]
    assert abstention.delta == 0 and abstention.ci.low == abstention.ci.high == 0
    assert compare(baseline, candidate) == comparison


async def test_retrieval_runs_do_not_compare_without_a_question_in_common_to_score(
    store: RunStore,
) -> None:
    first = await completed_retrieval_run(store, [1, "none", 2])
    # Only the unanswerable question is in both runs: hit rate has nothing to compare on.
    second = await completed_retrieval_run(store, [1, "none"], prefix="other")
    rows = await store.examples(second.id)
    renamed = [r.model_copy(update={"id": {"other0": "x", "other1": "q1"}[r.id]}) for r in rows]
    candidate = LoadedRun(run=second, examples=renamed)
    with pytest.raises(RunNotComparable, match=r"on the examples the runs share, hit_rate@1 "
                       r"scores questions that a passage answers"):  # fmt: skip
        compare(await loaded(store, first.id), candidate)


async def test_runs_scored_with_different_abstention_phrases_do_not_compare(
    store: RunStore,
) -> None:
    runs = [
        await loaded(store, (await completed_retrieval_run(store, [1, "none"], options=options,
                                                           metrics=["abstention"])).id)
        for options in (ScoreOptions(), ScoreOptions.model_validate(
            {"abstention": {"phrase": "No answer"}}))
    ]  # fmt: skip
    with pytest.raises(RunNotComparable, match="abstention with different phrases"):
        compare(*runs)
