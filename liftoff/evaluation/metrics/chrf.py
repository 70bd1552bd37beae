"""chrF exactly as sacrebleu computes it: character 6-grams, no word n-grams, beta 2.

Per example, ``sacrebleu.sentence_chrf(prediction, references).score``; corpus,
``sacrebleu.corpus_chrf(predictions, reference_streams).score``. A row holds sacrebleu's own
statistics for the best-scoring reference: ``[hyp, ref, match]`` counts per n-gram order.
"""

from __future__ import annotations

import functools
from typing import Any, ClassVar

from liftoff.evaluation.metrics.base import SacrebleuMetric

CHAR_ORDER = 6


@functools.cache
def sacrebleu_chrf() -> Any:
    from sacrebleu.metrics.chrf import CHRF as SacreCHRF

    return SacreCHRF()


class CHRF(SacrebleuMetric):
    """sacrebleu chrF on a 0-100 scale."""

    names: ClassVar[tuple[str, ...]] = ("chrf",)
    scale: ClassVar[float] = 100.0

    def prepare(self) -> None:
        sacrebleu_chrf()

    def sacrebleu_metric(self, sentence: bool) -> Any:
        return sacrebleu_chrf()  # chrF's sentence and corpus scores share one definition

    def signature_fields(self, name: str) -> dict[str, object]:
        return {"case": "mixed", "eff": True, "nc": CHAR_ORDER, "nw": 0, "space": False}
