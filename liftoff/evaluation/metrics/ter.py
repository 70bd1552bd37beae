"""TER exactly as sacrebleu computes it: tercom tokenization, case-insensitive, 0-100.

Per example, ``sacrebleu.sentence_ter(prediction, references).score``; corpus,
``sacrebleu.corpus_ter(predictions, reference_streams).score``. A row is sacrebleu's
``[fewest edits over the references, average reference length]``; the edits come from
:mod:`liftoff.evaluation.metrics._tercom`, a faster copy of sacrebleu's shift search.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, ClassVar

from liftoff.evaluation.metrics._tercom import translation_edit_rate
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

    def segment_statistics(self, predictions: Sequence[str], references: References) -> list[Row]:
        preprocess = sacrebleu_ter()._preprocess_segment
        rows: list[Row] = []
        for prediction, refs in zip(predictions, references, strict=True):
            words_hyp = preprocess(prediction).split()
            best_edits: int = int(1e16)
            ref_lengths = 0
            for ref in refs:  # sacrebleu's TER._compute_segment_statistics
                edits, ref_length = translation_edit_rate(words_hyp, preprocess(ref).split())
                ref_lengths += ref_length
                best_edits = min(best_edits, edits)
            rows.append([best_edits, ref_lengths / len(refs)])
        return rows

    def sentence_score_from_stats(self, row: Row) -> float:
        return float(sacrebleu_ter()._compute_score_from_stats(list(row)).score)

    def corpus_score_from_stats(self, totals: Row) -> float:
        return self.sentence_score_from_stats(totals)

    def signature_fields(self, name: str) -> dict[str, object]:
        return {"case": "lc", "tok": "tercom", "norm": False, "punct": True, "asian": False}
