"""The ``score`` entry point: input validation, options, results, confidence intervals."""

from __future__ import annotations

from typing import Any

import pytest

from liftoff.evaluation.errors import InvalidInput
from liftoff.evaluation.metrics import DEFAULT_METRICS, METRICS, ScoreOptions, score
from tests.evaluation.metrics.hard_corpus import PREDICTIONS, REFERENCES

FAST = ["bleu", "chrf", "rouge1", "rougeL"]


@pytest.mark.parametrize(
    ("predictions", "references", "metrics", "options", "message"),
    [
        (["a", "b"], ["a"], FAST, None, "2 predictions but 1 references"),
        (["a"], ["a", "b"], FAST, None, "1 predictions but 2 references"),
        ([], [], FAST, None, "predictions is empty"),
        ("a", ["a"], FAST, None, "predictions must be a list of strings"),
        (["a", 3], ["a", "b"], FAST, None, r"predictions\[1\] is int, not str"),
        (["a", None], ["a", "b"], FAST, None, r"predictions\[1\] is NoneType, not str"),
        (["a"], [["a", 7]], FAST, None, r"references\[0\]\[1\] must be a string, got int"),
        (
            ["a"],
            [None],
            FAST,
            None,
            r"references\[0\] must be a string or a list of strings, got null",
        ),
        (["a"], [[]], FAST, None, r"references\[0\] is empty"),
        (["a"], "a", FAST, None, "references must be a list"),
        (["a"], ["a"], ["bleu", "blue"], None, "unknown metric 'blue'; known: bleu, chrf"),
        (["a"], ["a"], [], None, "no metrics requested"),
        (["a"], ["a"], FAST, {"rouge": {"use_stemer": True}}, r"rouge\.use_stemer: Extra inputs"),
        (["a"], ["a"], FAST, {"bootstrap": {"resamples": -1}}, r"bootstrap\.resamples: Input"),
        (["a"], ["a"], FAST, {"workers": 0}, "workers"),
        (["a"], ["a"], FAST, {"colour": "blue"}, "colour: Extra inputs are not permitted"),
    ],
)
def test_invalid_input_raises_a_value_error_naming_the_problem(
    predictions: Any, references: Any, metrics: list[str], options: Any, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message) as caught:
        score(predictions, references, metrics, options)
    assert isinstance(caught.value, ValueError)


def test_every_metric_is_registered_with_its_scale() -> None:
    assert set(DEFAULT_METRICS) == {
        "bleu", "chrf", "ter", "rouge1", "rouge2", "rougeL", "rougeLsum", "meteor"
    }  # fmt: skip
    assert list(METRICS) == [*DEFAULT_METRICS, "hit_rate", "mrr", "abstention",
                             "false_abstention"]  # fmt: skip
    scales = {name: METRICS[name].scale for name in METRICS}
    assert scales == {"bleu": 100, "chrf": 100, "ter": 100} | dict.fromkeys(
        ("rouge1", "rouge2", "rougeL", "rougeLsum", "meteor", "hit_rate", "mrr", "abstention",
         "false_abstention"), 1
    )  # fmt: skip
    assert METRICS["hit_rate@4"] is METRICS["hit_rate"] and METRICS["mrr@100"].scale == 1


def test_results_come_in_the_order_asked_with_names_matched_case_insensitively() -> None:
    results = score(["a b"], ["a b c"], ["ROUGEL", "bleu", "chrF", "bleu"])
    assert list(results) == ["rougeL", "bleu", "chrf"]
    assert [result.name for result in results.values()] == ["rougeL", "bleu", "chrf"]


def test_one_reference_string_equals_a_list_of_one() -> None:
    flat = score(["the cat sat", "a dog"], ["the cat sat down", "the dog"], FAST)
    nested = score(["the cat sat", "a dog"], [["the cat sat down"], ["the dog"]], FAST)
    assert flat == nested


def test_signature_says_var_for_a_variable_number_of_references() -> None:
    result = score(["a", "b"], [["a"], ["b", "c"]], ["bleu"])["bleu"]
    assert result.signature.startswith("nrefs:var|")


def test_options_accept_a_model_or_a_mapping() -> None:
    model = ScoreOptions.model_validate({"bootstrap": {"resamples": 50, "seed": 3}})
    assert score(["a b"], ["a b c"], FAST, model) == score(
        ["a b"], ["a b c"], FAST, {"bootstrap": {"resamples": 50, "seed": 3}}
    )


def test_confidence_intervals_are_deterministic_for_a_seed() -> None:
    options = {"bootstrap": {"resamples": 300, "seed": 42}, "workers": 1}
    first = score(PREDICTIONS, REFERENCES, options=options)
    second = score(PREDICTIONS, REFERENCES, options=options)
    other_seed = score(PREDICTIONS, REFERENCES, options={**options, "bootstrap": {"seed": 43}})
    for name in DEFAULT_METRICS:
        assert first[name].ci is not None
        assert first[name].ci == second[name].ci, name
    assert any(first[name].ci != other_seed[name].ci for name in DEFAULT_METRICS)


def test_confidence_interval_contains_the_corpus_score() -> None:
    results = score(PREDICTIONS, REFERENCES, options={"workers": 1})
    for name, result in results.items():
        assert result.ci is not None, name
        assert result.ci.low <= result.corpus <= result.ci.high, name
        assert result.ci.low < result.ci.high, name
        assert result.ci.level == 0.95


def test_zero_resamples_turns_intervals_off() -> None:
    result = score(["a"], ["a"], ["bleu"], {"bootstrap": {"resamples": 0}})["bleu"]
    assert result.ci is None
    assert "bs:" not in result.signature


def test_format_reads_like_sacrebleu() -> None:
    result = score(["the cat sat"], ["the cat sat"], ["rouge1"], {"bootstrap": {"resamples": 20}})
    text = result["rouge1"].format(width=2)
    assert text.startswith("rouge1|nrefs:1|") and text.endswith(" = 1.00 [1.00, 1.00]")


def test_more_worker_chunks_than_examples_still_score_every_metric() -> None:
    options = {"bootstrap": {"resamples": 0}, "workers": 2}  # eight chunks, five of them empty
    parallel = score(PREDICTIONS[:3], REFERENCES[:3], options=options)
    serial = score(PREDICTIONS[:3], REFERENCES[:3], options={**options, "workers": 1})
    assert parallel == serial
