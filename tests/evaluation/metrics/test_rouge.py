"""ROUGE: rouge-score's published values, reference choice, stemming, on both scoring paths."""

from __future__ import annotations

import pytest
from rouge_score import rouge_scorer

from liftoff.evaluation.metrics import score
from liftoff.evaluation.metrics.base import package_version

pytestmark = pytest.mark.usefixtures("scoring_path")

NO_BOOTSTRAP = {"bootstrap": {"resamples": 0}}


# rouge-score rouge/rouge_scorer_test.py: score(target, prediction) -> precision, recall, F.
@pytest.mark.parametrize(
    ("name", "target", "prediction", "expected"),
    [
        ("rouge1", "testing one two", "testing", (1, 1 / 3, 1 / 2)),
        ("rouge1", "testing one two", "testing one", (1, 2 / 3, 4 / 5)),
        ("rouge2", "testing one two", "testing one", (1, 1 / 2, 2 / 3)),
        ("rougeL", "testing one two", "testing one", (1, 2 / 3, 4 / 5)),
        ("rougeL", "testing one two", "testing two", (1, 2 / 3, 4 / 5)),
        ("rougeLsum", "w1 w2 w3 w4 w5", "w1 w2 w6 w7 w8\nw1 w3 w8 w9 w5", (0.4, 0.8, 0.5333)),
        ("rougeLsum", "w1 w2 w3 w4 w5", "/", (0, 0, 0)),
        ("rougeLsum", "", "w1", (0, 0, 0)),
        *((name, "testing one two", "", (0, 0, 0)) for name in ("rouge1", "rouge2", "rougeL")),
    ],
)
def test_rouge_matches_rouge_score_published_values(
    name: str, target: str, prediction: str, expected: tuple[float, float, float]
) -> None:
    result = score([prediction], [target], [name], NO_BOOTSTRAP)[name]
    precision, recall, fmeasure = expected
    assert result.components["precision"][0] == pytest.approx(precision, abs=1e-4)
    assert result.components["recall"][0] == pytest.approx(recall, abs=1e-4)
    assert result.per_example[0] == pytest.approx(fmeasure, abs=1e-4)


def test_each_type_takes_the_reference_with_the_best_f_measure() -> None:
    refs = ["the cat", "a dog sat on the mat", "the cat sat on the mat today"]
    prediction = "the cat sat on the mat"
    expected = rouge_scorer.RougeScorer(["rouge1", "rouge2"]).score_multi(refs, prediction)
    result = score([prediction], [refs], ["rouge1", "rouge2"], NO_BOOTSTRAP)
    for name in ("rouge1", "rouge2"):
        assert result[name].per_example[0] == expected[name].fmeasure
        assert result[name].components["recall"][0] == expected[name].recall


def test_ties_keep_the_first_reference_like_numpy_argmax() -> None:
    refs = ["cat dog", "dog cat", "cat dog"]
    result = score(["cat"], [refs], ["rougeL"], NO_BOOTSTRAP)["rougeL"]
    expected = rouge_scorer.RougeScorer(["rougeL"]).score_multi(refs, "cat")["rougeL"]
    assert result.per_example[0] == expected.fmeasure


def test_stemmer_option_changes_scores_like_rouge_score() -> None:
    target, prediction = "the cats were running", "the cat was run"
    plain = score([prediction], [target], ["rouge1"], NO_BOOTSTRAP)["rouge1"]
    stemmed = score(
        [prediction], [target], ["rouge1"], {**NO_BOOTSTRAP, "rouge": {"use_stemmer": True}}
    )["rouge1"]
    expected = rouge_scorer.RougeScorer(["rouge1"], use_stemmer=True).score(target, prediction)
    assert stemmed.per_example[0] == expected["rouge1"].fmeasure
    assert stemmed.per_example[0] > plain.per_example[0]
    assert "stem:yes" in stemmed.signature and "stem:no" in plain.signature


def test_corpus_rouge_is_the_mean_of_per_example_f_measures() -> None:
    result = score(["a b", "c d e", "x"], ["a b c", "c e", "y"], ["rouge1"], NO_BOOTSTRAP)
    per_example = result["rouge1"].per_example
    assert result["rouge1"].corpus == pytest.approx(sum(per_example) / 3, abs=1e-15)


def test_signature_names_settings_and_version() -> None:
    result = score(["a"], [["a", "b"]], ["rougeLsum"], NO_BOOTSTRAP)["rougeLsum"]
    version = package_version("rouge-score")
    assert result.signature == (
        f"nrefs:2|tok:rouge-score|stem:no|split:newline|agg:mean|version:rouge-score-{version}"
    )
    assert result.scale == 1.0
