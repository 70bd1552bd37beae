"""BLEU exactly as sacrebleu computes it: 13a tokenizer, ``exp`` smoothing, mixed case.

Per example, ``sacrebleu.sentence_bleu(prediction, references).score``; corpus,
``sacrebleu.corpus_bleu(predictions, reference_streams).score``. The two differ in *effective
order* (leaving out n-gram orders the hypothesis has none of): ``sentence_bleu`` turns it on,
``corpus_bleu`` (and ``BLEU().sentence_score``!) leave it off. Both come from one pass of
sacrebleu's own statistics (lengths, then matches and totals per n-gram order).
"""

from __future__ import annotations

import functools
from typing import Any, ClassVar

from liftoff.evaluation.metrics.base import SacrebleuMetric


@functools.cache
def sacrebleu_bleu(effective_order: bool) -> Any:
    from sacrebleu.metrics.bleu import BLEU as SacreBLEU

    return SacreBLEU(effective_order=effective_order, force=True)


class BLEU(SacrebleuMetric):
    """sacrebleu BLEU on a 0-100 scale; one row per example: lengths, matches, totals."""

    names: ClassVar[tuple[str, ...]] = ("bleu",)
    scale: ClassVar[float] = 100.0

    def prepare(self) -> None:
        sacrebleu_bleu(True)
        sacrebleu_bleu(False)

    def sacrebleu_metric(self, sentence: bool) -> Any:
        return sacrebleu_bleu(sentence)

    def signature_fields(self, name: str) -> dict[str, object]:
        return {
            "case": "mixed",
            "eff": "per-example",
            "tok": "13a",
            "smooth": "exp",
            "agg": "corpus",
        }
