"""Hit rate and MRR at cutoffs: known-value tables, which questions count, names, refusals
and confidence intervals."""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pytest

from liftoff.evaluation.errors import InvalidInput
from liftoff.evaluation.metrics import METRICS, BootstrapOptions, canonical_metrics, score
from liftoff.evaluation.metrics.base import resample_counts
from liftoff.evaluation.metrics.passages import MAX_CITATIONS

NO_CI = {"bootstrap": {"resamples": 0}}


def _ranked(rank: int | None, length: int = 5) -> list[str]:
    """``length`` citations; the one at ``rank`` (1 first) is the answering ``gold.md``."""
    return [
        "gold.md" if rank == position else f"other-{position}.md"
        for position in range(1, length + 1)
    ]


# Five questions whose first answering citation is at rank 1, 3, none, 2 and 5; then one that
# nothing answers ("passages": []) and one that says nothing about passages (null).
RANKS = [1, 3, None, 2, 5]
RETRIEVED = [_ranked(rank) for rank in RANKS] + [_ranked(None), _ranked(1)]
PASSAGES: list[Any] = [["gold.md"]] * len(RANKS) + [[], None]
NOT_SCORED = [None, None]  # the last two rows: no question to rank against


@pytest.mark.parametrize(
    ("metric", "per_question", "corpus"),
    [
        ("hit_rate@1", [1, 0, 0, 0, 0], 1 / 5),
        ("hit_rate@2", [1, 0, 0, 1, 0], 2 / 5),
        ("hit_rate@3", [1, 1, 0, 1, 0], 3 / 5),
        ("hit_rate@5", [1, 1, 0, 1, 1], 4 / 5),
        ("hit_rate@100", [1, 1, 0, 1, 1], 4 / 5),
        ("hit_rate", [1, 1, 0, 1, 1], 4 / 5),
        ("mrr@1", [1, 0, 0, 0, 0], 1 / 5),
        ("mrr@3", [1, 1 / 3, 0, 1 / 2, 0], (1 + 1 / 3 + 1 / 2) / 5),
        ("mrr@4", [1, 1 / 3, 0, 1 / 2, 0], (1 + 1 / 3 + 1 / 2) / 5),
        ("mrr", [1, 1 / 3, 0, 1 / 2, 1 / 5], (1 + 1 / 3 + 1 / 2 + 1 / 5) / 5),
    ],
)
def test_hit_rate_and_mrr_known_values(
    metric: str, per_question: list[float], corpus: float
) -> None:
    result = score(["answer"] * len(RETRIEVED), metrics=[metric], options=NO_CI,
                   retrieved=RETRIEVED, passages=PASSAGES)[metric]  # fmt: skip
    assert result.per_example == pytest.approx((*per_question, *NOT_SCORED))
    assert result.corpus == pytest.approx(corpus, abs=1e-15)
    assert result.scale == 1.0 and METRICS[metric].higher_is_better


def test_mrr_of_wikipedias_worked_example() -> None:
    # en.wikipedia.org/wiki/Mean_reciprocal_rank: plurals of "cat", "torus" and "virus", the
    # correct ones ranked third, second and first; MRR = (1/3 + 1/2 + 1) / 3 = 11/18.
    retrieved = [["catten", "cati", "cats"], ["torii", "tori", "toruses"],
                 ["viruses", "virii", "viri"]]  # fmt: skip
    passages = [["cats"], ["tori"], ["viruses"]]
    results = score(["", "", ""], metrics=["mrr", "hit_rate@1"], options=NO_CI,
                    retrieved=retrieved, passages=passages)  # fmt: skip
    assert results["mrr"].corpus == pytest.approx(11 / 18)
    assert results["hit_rate@1"].corpus == pytest.approx(1 / 3)


def test_any_answering_passage_counts_and_text_passages_match_citation_texts() -> None:
    retrieved = [
        [{"source": "a.md", "chunk": 0, "text": "Drones are the males."},
         {"source": "a.md", "chunk": 1, "text": "The queen lays up to two thousand eggs."}],
        [{"source": "b.md", "chunk": 4, "text": "Fresnel's lens dates from 1822."}],
    ]  # fmt: skip
    passages = [[{"text": "two thousand eggs"}, "c.md"], ["b.md#3", {"text": "lens dates"}]]
    result = score(["", ""], metrics=["mrr"], options=NO_CI, retrieved=retrieved,
                   passages=passages)["mrr"]  # fmt: skip
    assert result.per_example == (1 / 2, 1.0)


def test_citations_retrieved_twice_or_not_at_all() -> None:
    retrieved: list[Any] = [["x.md", "x.md", "gold.md", "gold.md"], []]
    result = score(["", ""], metrics=["mrr"], options=NO_CI, retrieved=retrieved,
                   passages=[["gold.md"], ["gold.md"]])["mrr"]  # fmt: skip
    assert result.per_example == (1 / 3, 0.0) and result.corpus == pytest.approx(1 / 6)


def test_the_signature_names_the_cutoff_and_the_matching_without_references() -> None:
    results = score(["a"], metrics=["hit_rate@4", "mrr"], retrieved=[["g"]], passages=[["g"]],
                    options={"bootstrap": {"resamples": 10, "seed": 7}})  # fmt: skip
    version = results["mrr"].signature.rsplit(":", 1)[1]
    assert results["hit_rate@4"].signature == (
        f"k:4|match:id,words|agg:mean|ci:95%|bs:10|rs:7|version:{version}"
    )
    assert results["mrr"].signature.startswith("k:all|match:id,words|agg:mean|")
    assert re.fullmatch(r"liftoff-\d+\.\d+\.\d+.*", version)


def test_retrieval_and_text_metrics_score_together_each_reading_its_own_inputs() -> None:
    sentence = "the cat sat on the mat"
    results = score([sentence], [[sentence]], ["bleu", "hit_rate@1"], NO_CI, [["gold.md"]],
                    [["gold.md"]])  # fmt: skip
    assert results["bleu"].signature.startswith("nrefs:1|")
    assert (results["bleu"].corpus, results["hit_rate@1"].corpus) == (pytest.approx(100), 1.0)


@pytest.mark.parametrize(
    ("requested", "canonical"),
    [
        ("hit_rate@4", "hit_rate@4"),
        ("HIT_RATE@4", "hit_rate@4"),
        ("Mrr@010", "mrr@10"),
        ("mrr", "mrr"),
        ("hit_rate@100", "hit_rate@100"),
        ("False_Abstention", "false_abstention"),
    ],
)
def test_metric_names_are_spelled_canonically(requested: str, canonical: str) -> None:
    assert canonical_metrics([requested]) == (canonical,)


@pytest.mark.parametrize(
    ("requested", "message"),
    [
        ("hit_rate@0", "the cutoff after @ is a whole number of passages from 1 to 100"),
        ("hit_rate@101", "from 1 to 100"),
        ("mrr@", "from 1 to 100"),
        ("mrr@ten", "from 1 to 100"),
        ("mrr@\uff14", "from 1 to 100"),  # a full-width 4 is a digit, but not one of ours
        ("mrr@-1", "from 1 to 100"),
        ("ndcg@10", "unknown metric 'ndcg@10'; known: bleu, chrf,"),
        ("bleu@4", "unknown metric 'bleu@4'"),  # BLEU has no cutoff
        ("abstention@2", "unknown metric 'abstention@2'"),
    ],
)
def test_bad_metric_names_are_refused_naming_them(requested: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape(message)) as caught:
        canonical_metrics([requested])
    assert caught.value.param == "metrics"
    with pytest.raises(KeyError):
        METRICS[requested]


def test_the_unknown_metric_message_lists_the_families() -> None:
    with pytest.raises(InvalidInput, match=r"abstention, false_abstention, hit_rate@K, mrr@K$"):
        canonical_metrics(["recall@5"])


@pytest.mark.parametrize(
    ("retrieved", "passages", "param", "message"),
    [
        (None, [["g"]], "retrieved", "hit_rate@4 needs retrieved: the passages retrieved"),
        ([["g"]], None, "passages", "hit_rate@4 needs passages: the passages that answer"),
        ([["g"], ["g"]], [["g"]], "retrieved", "1 predictions but 2 retrieved: one entry per"),
        ([["g"]], [["g"], ["g"]], "passages", "1 predictions but 2 passages"),
        ("g", [["g"]], "retrieved", "retrieved must be a list: a list of citations per"),
        (["g"], [["g"]], "retrieved", "retrieved[0] must be a list, got str"),
        ([[{"source": "a", "chunk": -1}]], [["g"]], "retrieved",
         "retrieved[0][0].chunk: Input should be greater than or equal to 0"),
        ([[{"score": 1.0}]], [["g"]], "retrieved",
         "retrieved[0][0]: a citation needs at least one of id, source, url or text"),
        ([["g"] * (MAX_CITATIONS + 1)], [["g"]], "retrieved",
         "retrieved[0] has 101 entries; at most 100"),
        ([["g"]], [[{"text": "..."}]], "passages",
         "passages[0][0]: text has no letters or digits to match"),
        ([["g"]], [[7]], "passages", "passages[0][0]: Input should be a valid dictionary"),
        ([["g"]], [[]], "passages",
         "hit_rate@4 scores questions that a passage answers (rows naming passages), and "
         "there are none"),
        ([["g"]], [None], "passages", "and there are none"),
    ],
)  # fmt: skip
def test_retrieval_inputs_are_checked_naming_the_entry_at_fault(
    retrieved: Any, passages: Any, param: str, message: str
) -> None:
    with pytest.raises(InvalidInput, match=re.escape(message)) as caught:
        score(["a"], metrics=["bleu", "hit_rate@4"], references=["a"], retrieved=retrieved,
              passages=passages)  # fmt: skip
    assert caught.value.param == param


def test_a_text_metric_without_references_is_refused_but_not_a_retrieval_one() -> None:
    with pytest.raises(InvalidInput, match="bleu needs references") as caught:
        score(["a"], metrics=["mrr", "bleu"], retrieved=[["g"]], passages=[["g"]])
    assert caught.value.param == "references"
    assert score(["a"], metrics=["mrr"], retrieved=[["g"]], passages=[["g"]], options=NO_CI)


def test_intervals_are_ratio_bootstraps_over_every_example_and_reproducible() -> None:
    # 40 questions (ranks cycling 1, 2, none, 4) among 60 examples (20 without passages):
    # the interval of each resample's ratio, on the same draws as every other metric.
    ranks = [[1, 2, None, 4][i % 4] for i in range(40)]
    retrieved = [_ranked(rank) for rank in ranks] + [_ranked(1)] * 20
    passages: list[Any] = [["gold.md"]] * 40 + [None] * 20
    bootstrap = BootstrapOptions(resamples=500, seed=3)
    options = {"bootstrap": bootstrap.model_dump()}
    first = score([""] * 60, metrics=["mrr@3"], options=options, retrieved=retrieved,
                  passages=passages)["mrr@3"]  # fmt: skip
    again = score([""] * 60, metrics=["mrr@3"], options=options, retrieved=retrieved,
                  passages=passages)["mrr@3"]  # fmt: skip
    assert first == again and first.ci is not None
    assert first.corpus == pytest.approx((10 * 1 + 10 * 0.5) / 40)

    values = np.array([v if v is not None else 0.0 for v in first.per_example])
    applies = np.array([v is not None for v in first.per_example], dtype=float)
    ratios = [
        (counts @ values) / (counts @ applies)
        for block in resample_counts(60, bootstrap)
        for counts in block
    ]
    low, high = np.percentile(ratios, [2.5, 97.5])
    assert (first.ci.low, first.ci.high) == (pytest.approx(low), pytest.approx(high))
    assert first.ci.low < first.corpus < first.ci.high


def test_scores_do_not_depend_on_worker_processes() -> None:
    count = 3000
    retrieved = [_ranked([1, 3, None][i % 3]) for i in range(count)]
    passages: list[Any] = [["gold.md"] if i % 5 else [] for i in range(count)]
    one, two = (
        score([""] * count, metrics=["hit_rate@2", "mrr"], retrieved=retrieved,
              passages=passages, options={"workers": workers, "bootstrap": {"resamples": 0}})
        for workers in (1, 2)
    )  # fmt: skip
    assert one == two
    assert math.isclose(one["hit_rate@2"].corpus, 800 / 2400)
