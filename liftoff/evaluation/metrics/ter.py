"""TER exactly as sacrebleu computes it: tercom tokenization, case-insensitive, 0-100.

Per example, ``sacrebleu.sentence_ter(prediction, references).score``; corpus,
``sacrebleu.corpus_ter(predictions, reference_streams).score``. A row is sacrebleu's
``[fewest edits over the references, average reference length]``. With the sacrebleu
version it mirrors, :mod:`~liftoff.evaluation.metrics.accelerators.tercom` computes the rows
(several times faster); with any other, sacrebleu does.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, ClassVar

from liftoff.evaluation.metrics.accelerators import tercom
from liftoff.evaluation.metrics.base import References, Row, SacrebleuMetric


@functools.cache
def sacrebleu_ter() -> Any:
    from sacrebleu.metrics.ter import TER as SacreTER

    return SacreTER()


class TER(SacrebleuMetric):
    """sacrebleu TER (lower is better) on a 0-100 scale; can exceed 100."""

    names: ClassVar[tuple[str, ...]] = ("ter",)
    scale: ClassVar[float] = 100.0
    higher_is_better: ClassVar[bool] = False

    def prepare(self) -> None:
        sacrebleu_ter()

    def sacrebleu_metric(self, sentence: bool) -> Any:
        return sacrebleu_ter()

    def segment_statistics(self, predictions: Sequence[str], references: References) -> list[Row]:
        if tercom.UPSTREAM.active():
            return list(tercom.ter_statistics(predictions, references))
        return super().segment_statistics(predictions, references)

    def signature_fields(self, name: str) -> dict[str, object]:
        return {"case": "lc", "tok": "tercom", "norm": False, "punct": True, "asian": False}
