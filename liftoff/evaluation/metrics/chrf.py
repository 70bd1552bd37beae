"""chrF exactly as sacrebleu computes it: character 6-grams, no word n-grams, beta 2.

Per example, ``sacrebleu.sentence_chrf(prediction, references).score``; corpus,
``sacrebleu.corpus_chrf(predictions, reference_streams).score``. A row holds sacrebleu's
statistics for the best-scoring reference: ``[hyp, ref, match]`` counts per n-gram order.
They are counted here with n-grams built order by order, and matches taken as a set
intersection where one side has no repeated n-gram (same integers), then scored by
sacrebleu's own ``_compute_f_score``.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Sequence
from operator import add
from typing import Any, ClassVar

from liftoff.evaluation.metrics.base import References, Row, SacrebleuMetric

CHAR_ORDER = 6


@functools.cache
def sacrebleu_chrf() -> Any:
    from sacrebleu.metrics.chrf import CHRF as SacreCHRF

    return SacreCHRF()


def char_ngrams(text: str) -> list[tuple[Counter[str], int]]:
    """Character n-gram counts and totals for n = 1..6, whitespace removed (sacrebleu's rule).

    Each order extends the previous one's n-grams by the next character (a C-level ``map``).
    """
    line = "".join(text.split())
    result = [(Counter(line), len(line))]
    grams: Sequence[str] = line
    for n in range(2, CHAR_ORDER + 1):
        grams = list(map(add, grams, line[n - 1 :]))
        result.append((Counter(grams), len(grams)))
    return result


def match_statistics(
    hypothesis: list[tuple[Counter[str], int]], reference: list[tuple[Counter[str], int]]
) -> list[int]:
    """sacrebleu's ``_get_match_statistics`` for every order, flattened."""
    stats: list[int] = []
    for (hyp, hyp_total), (ref, ref_total) in zip(hypothesis, reference, strict=True):
        if len(hyp) == hyp_total or len(ref) == ref_total:
            # One side counts every n-gram once, so each shared n-gram matches exactly once.
            matches = len(hyp.keys() & ref.keys())
        else:
            small, large = (hyp, ref) if len(hyp) <= len(ref) else (ref, hyp)
            get = large.get
            matches = 0
            for ngram, count in small.items():
                other = get(ngram)
                if other:
                    matches += count if count < other else other
        stats += (hyp_total if ref_total else 0, ref_total, matches)
    return stats


class CHRF(SacrebleuMetric):
    """sacrebleu chrF on a 0-100 scale."""

    names: ClassVar[tuple[str, ...]] = ("chrf",)
    scale: ClassVar[float] = 100.0

    def prepare(self) -> None:
        sacrebleu_chrf()

    def segment_statistics(self, predictions: Sequence[str], references: References) -> list[Row]:
        f_score = sacrebleu_chrf()._compute_f_score
        rows: list[Row] = []
        for prediction, refs in zip(predictions, references, strict=True):
            hypothesis = char_ngrams(prediction)
            best: list[int] = []
            best_f = -1.0
            for ref in refs:  # the first reference with the best F wins, as in sacrebleu
                stats = match_statistics(hypothesis, char_ngrams(ref))
                f = f_score(stats)
                if f > best_f:
                    best, best_f = stats, f
            rows.append(best)
        return rows

    def sentence_score_from_stats(self, row: Row) -> float:
        return float(sacrebleu_chrf()._compute_score_from_stats(list(row)).score)

    def corpus_score_from_stats(self, totals: Row) -> float:
        return self.sentence_score_from_stats(totals)

    def signature_fields(self, name: str) -> dict[str, object]:
        return {"case": "mixed", "eff": True, "nc": CHAR_ORDER, "nw": 0, "space": False}
