"""ROUGE-1/2/L/Lsum exactly as Google's rouge-score computes them, on a 0-1 scale.

Per example: ``RougeScorer(types, use_stemmer).score_multi(references, prediction)``: for each
type, the precision/recall/F of the reference with the highest F (the first on ties). Corpus:
the mean of per-example F-measures. ROUGE-Lsum splits sentences on newlines. With the
rouge-score version it mirrors, :mod:`~liftoff.evaluation.metrics.accelerators.rouge` computes
the rows (several times faster); with any other, rouge-score does.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, ClassVar

from liftoff.evaluation.metrics.accelerators import rouge as accelerated
from liftoff.evaluation.metrics.base import MeanMetric, References, Row, package_version


@functools.lru_cache(maxsize=8)
def rouge_scorer(names: tuple[str, ...], use_stemmer: bool) -> Any:
    from rouge_score.rouge_scorer import RougeScorer

    return RougeScorer(list(names), use_stemmer=use_stemmer)


class Rouge(MeanMetric):
    """rouge-score ROUGE; a row holds precision, recall, F for each selected type in turn."""

    names: ClassVar[tuple[str, ...]] = ("rouge1", "rouge2", "rougeL", "rougeLsum")
    scale: ClassVar[float] = 1.0

    def prepare(self) -> None:
        use_stemmer = self.options.rouge.use_stemmer
        if accelerated.UPSTREAM.active():
            accelerated.prepare(use_stemmer)
        else:
            rouge_scorer(self.selected, use_stemmer)

    def segment_statistics(self, predictions: Sequence[str], references: References) -> list[Row]:
        use_stemmer = self.options.rouge.use_stemmer
        if accelerated.UPSTREAM.active():
            return list(accelerated.rouge_rows(self.selected, predictions, references, use_stemmer))
        scorer = rouge_scorer(self.selected, use_stemmer)
        rows: list[Row] = []
        for prediction, refs in zip(predictions, references, strict=True):
            scores = scorer.score_multi(refs, prediction)
            rows.append(
                [
                    float(value)
                    for name in self.selected
                    for value in (
                        scores[name].precision,
                        scores[name].recall,
                        scores[name].fmeasure,
                    )
                ]
            )
        return rows

    def value_column(self, name: str) -> int:
        return 3 * self.selected.index(name) + 2

    def components(self, name: str, rows: Sequence[Row]) -> dict[str, tuple[float, ...]]:
        column = 3 * self.selected.index(name)
        return {
            "precision": tuple(row[column] for row in rows),
            "recall": tuple(row[column + 1] for row in rows),
        }

    def signature_fields(self, name: str) -> dict[str, Any]:
        fields: dict[str, Any] = {"tok": "rouge-score", "stem": self.options.rouge.use_stemmer}
        if name == "rougeLsum":
            fields["split"] = "newline"
        return fields | {"agg": "mean"}

    def version(self) -> str:
        return f"rouge-score-{package_version('rouge-score')}"
