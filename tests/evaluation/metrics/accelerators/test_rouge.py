"""The ROUGE accelerator: bit-parallel LCS and whole rows against rouge-score."""

from __future__ import annotations

import random

import pytest
from rouge_score import rouge_scorer

from liftoff.evaluation.metrics.accelerators.rouge import lcs_length, rouge_rows
from tests.evaluation.metrics.hard_corpus import PREDICTIONS, REFERENCES

TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")


def test_lcs_length_equals_rouge_score_lcs_table() -> None:
    rng = random.Random(9)
    for _ in range(2000):
        a = rng.choices("abcde", k=rng.randint(1, 40))
        b = rng.choices("abcde", k=rng.randint(0, 40))
        masks: dict[str, int] = {}
        for i, token in enumerate(a):
            masks[token] = masks.get(token, 0) | (1 << i)
        assert lcs_length(masks, len(a), b) == rouge_scorer._lcs_table(a, b)[-1][-1]


@pytest.mark.parametrize("use_stemmer", [False, True])
def test_rows_equal_score_multi_on_the_hard_corpus(use_stemmer: bool) -> None:
    scorer = rouge_scorer.RougeScorer(list(TYPES), use_stemmer=use_stemmer)
    expected = [
        [value for name in TYPES for value in scorer.score_multi(refs, prediction)[name]]
        for prediction, refs in zip(PREDICTIONS, REFERENCES, strict=True)
    ]
    assert rouge_rows(TYPES, PREDICTIONS, REFERENCES, use_stemmer) == expected
