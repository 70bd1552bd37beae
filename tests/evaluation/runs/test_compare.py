"""Paired comparison of two runs: deltas equal the libraries' corpus scores, seeded intervals."""

from __future__ import annotations

from pathlib import Path

import pytest

from liftoff.evaluation.metrics import ScoreOptions, score
from liftoff.evaluation.runs import runner
from liftoff.evaluation.runs.compare import compare
from liftoff.evaluation.runs.errors import RunNotComparable
from liftoff.evaluation.runs.model import LoadedRun, RunSpec
from liftoff.evaluation.runs.store import Generation, RunStore
from tests.evaluation.runs.stored import FAST, completed_run, examples

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


def _loaded(store: RunStore, predictions: list[str], prefix: str = "ex") -> LoadedRun:
    run = completed_run(store, examples(REFERENCES, prefix), predictions)
    return LoadedRun(run, tuple(store.examples(run.id)))


def test_deltas_are_the_corpus_scores_of_both_runs_with_a_paired_interval(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.sqlite3")
    baseline, candidate = _loaded(store, WORSE), _loaded(store, BETTER)
    comparison = compare(baseline, candidate)
    before = score(WORSE, REFERENCES, FAST)
    after = score(BETTER, REFERENCES, FAST)
    assert comparison.examples == len(REFERENCES)
    assert list(comparison.deltas) == list(FAST)
    for name, delta in comparison.deltas.items():
        assert delta.baseline == pytest.approx(before[name].corpus, abs=1e-9)
        assert delta.candidate == pytest.approx(after[name].corpus, abs=1e-9)
        assert delta.ci_low <= delta.delta <= delta.ci_high
        assert delta.improved > 0  # better on every metric, TER included (it went down)
    assert comparison.deltas["ter"].delta < 0
    assert comparison.deltas["bleu"].significant
    assert compare(baseline, candidate) == comparison  # seeded: the same interval every time
    same = compare(candidate, candidate)
    assert all(d.delta == 0 and d.ci_low == d.ci_high == 0 for d in same.deltas.values())


def test_only_examples_in_both_runs_are_paired(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.sqlite3")
    baseline = _loaded(store, WORSE)
    other = completed_run(store, examples(REFERENCES[:3]) + examples(REFERENCES[3:4], "new"),
                          BETTER[:4])  # fmt: skip
    comparison = compare(baseline, LoadedRun(other, tuple(store.examples(other.id))))
    assert (comparison.examples, comparison.only_in_baseline, comparison.only_in_candidate) == (
        3, 5, 1,
    )  # fmt: skip
    expected = score(BETTER[:3], REFERENCES[:3], ["bleu"])["bleu"].corpus
    assert comparison.deltas["bleu"].candidate == pytest.approx(expected, abs=1e-9)


def test_unfinished_or_disjoint_runs_do_not_compare(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.sqlite3")
    baseline = _loaded(store, WORSE)
    disjoint = _loaded(store, BETTER, prefix="other")
    with pytest.raises(RunNotComparable, match="no example id in common"):
        compare(baseline, disjoint)
    queued = store.create_run(baseline.run.spec, examples(REFERENCES), origin="test")
    with pytest.raises(RunNotComparable, match=f"run {queued.id} is queued, not completed"):
        compare(baseline, LoadedRun(queued, tuple(store.examples(queued.id))))


def test_runs_scored_with_different_meteor_tokenizations_do_not_compare(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.sqlite3")
    loaded = []
    for tokenize in ("nltk-word", "nltk-word-tokenize"):
        options = ScoreOptions.model_validate({"meteor": {"tokenize": tokenize}})
        spec = RunSpec(target="http://127.0.0.1:9/v1", model="m", metrics=("meteor",),
                       options=options)  # fmt: skip
        run = store.create_run(spec, examples(REFERENCES), origin="test")
        for position, prediction in enumerate(BETTER):
            store.record_output(run.id, position, Generation(prediction, latency_s=0.01))
        job = runner.scoring_job(store, run.id)
        run = runner.finish(store, job, score(*job.arguments()))
        loaded.append(LoadedRun(run, tuple(store.examples(run.id))))
    with pytest.raises(RunNotComparable, match="METEOR with different tokenizations"):
        compare(*loaded)
