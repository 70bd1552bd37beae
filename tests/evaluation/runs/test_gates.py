"""Gates and the regression check: parsing, directions and scales."""

from __future__ import annotations

import pytest

from liftoff.evaluation.errors import InvalidInput
from liftoff.evaluation.runs.compare import Comparison, MetricDelta, PairedBootstrap
from liftoff.evaluation.runs.gates import (
    Gate,
    check_gates,
    check_regression,
    parse_gate,
    parse_max_drop,
)
from liftoff.evaluation.runs.model import Interval


@pytest.mark.parametrize(
    ("text", "gate"),
    [
        ("bleu>=20", Gate("bleu", ">=", 20.0)),
        (" rougeL >= 0.35 ", Gate("rougeL", ">=", 0.35)),
        ("ROUGEL>.5", Gate("rougeL", ">", 0.5)),
        ("ter<=60", Gate("ter", "<=", 60.0)),
        ("meteor<1", Gate("meteor", "<", 1.0)),
        ("hit_rate@4>=0.85", Gate("hit_rate@4", ">=", 0.85)),
        ("MRR@04 >= .75", Gate("mrr@4", ">=", 0.75)),
        ("mrr>0.5", Gate("mrr", ">", 0.5)),
        ("false_abstention<=0.15", Gate("false_abstention", "<=", 0.15)),
    ],
)
def test_gates_parse_with_canonical_metric_names(text: str, gate: Gate) -> None:
    assert parse_gate(text) == gate


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("bleu=>20", "malformed gate 'bleu=>20'"),
        ("bleu>=", "malformed gate"),
        ("bleu 20", "malformed gate"),
        ("blue>=20", "unknown metric 'blue'"),
        ("hit_rate@4=0.85", "malformed gate 'hit_rate@4=0.85': write METRIC>=NUMBER, e.g."),
        ("hit_rate@0>=0.5", "the cutoff after @ is a whole number of passages from 1 to 100"),
        ("hit_rate@@4>=0.5", "malformed gate"),
    ],
)
def test_malformed_gates_are_refused(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_gate(text)


def test_max_drop_applies_to_every_metric_or_one() -> None:
    assert parse_max_drop(["2", "BLEU=0.5"]) == {None: 2.0, "bleu": 0.5}
    assert parse_max_drop(["Hit_Rate@4=5"]) == {"hit_rate@4": 5.0}
    with pytest.raises(InvalidInput, match="malformed max drop 'two'"):
        parse_max_drop(["two"])


def test_gates_compare_corpus_scores_and_flag_missing_metrics() -> None:
    corpus = {"bleu": 25.0, "ter": 70.0}
    checks = check_gates(corpus, [Gate("bleu", ">=", 20), Gate("ter", "<=", 60),
                                  Gate("meteor", ">=", 0.1)])  # fmt: skip
    assert [c.passed for c in checks] == [True, False, False]
    assert checks[0].message == "bleu = 25.0000 passes bleu>=20"
    assert checks[2].message == "meteor was not scored"


def _comparison(**deltas: tuple[float, float, float]) -> Comparison:
    return Comparison(
        baseline="a", candidate="b", examples=10, only_in_baseline=0, only_in_candidate=0,
        bootstrap=PairedBootstrap(resamples=100, seed=1),
        metrics={name: MetricDelta(baseline=base, candidate=cand, ci=Interval(low=-1, high=1),
                                   scale=scale, higher_is_better=name != "ter")
                 for name, (base, cand, scale) in deltas.items()},
    )  # fmt: skip


def test_a_drop_is_measured_in_points_of_the_0_to_100_scale_and_ter_drops_upwards() -> None:
    comparison = _comparison(
        bleu=(30.0, 28.5, 100.0),  # -1.5 points
        rougeL=(0.50, 0.47, 1.0),  # -3 points
        ter=(60.0, 63.0, 100.0),  # worse by 3 points
        meteor=(0.40, 0.45, 1.0),  # better
    )
    checks = {c.metric: c for c in check_regression(comparison, {None: 2.0})}
    assert {name: c.passed for name, c in checks.items()} == {
        "bleu": True, "rougeL": False, "ter": False, "meteor": True,
    }  # fmt: skip
    assert "a drop of 3.00 points, over the allowed 2" in checks["rougeL"].message
    assert "no drop" in checks["meteor"].message
    retrieval = _comparison(**{"hit_rate@4": (0.90, 0.86, 1.0)},
                            false_abstention=(0.10, 0.13, 1.0))  # fmt: skip
    retrieval = retrieval.model_copy(update={"metrics": {
        **retrieval.metrics,
        "false_abstention": retrieval.metrics["false_abstention"].model_copy(
            update={"higher_is_better": False}),
    }})  # fmt: skip
    assert [(c.metric, c.passed) for c in check_regression(retrieval, {None: 3.5})] == [
        ("hit_rate@4", False),  # -4 points
        ("false_abstention", True),  # 3 points more false abstentions: a drop of 3
    ]
    only_bleu = check_regression(comparison, {"bleu": 1.0})
    assert [(c.metric, c.passed) for c in only_bleu] == [("bleu", False)]
