"""Abstention: how often an answer says "I don't know" where it should, and where it should not.

    abstention        the share of unanswerable questions (dataset rows with
                      ``"passages": []``) whose answer abstains; higher is better
    false_abstention  the share of answerable questions (rows naming passages) whose answer
                      abstains; lower is better

An answer abstains when its first words are the phrase's words (``options.abstention.phrase``,
default ``I don't know``), compared as passages are (NFKC, case-folded runs of letters, digits
and marks; see :mod:`~liftoff.evaluation.metrics.passages`): "I don't know.", "i DON'T know —
the passages..." and "I don\u2019t know" (a typographic apostrophe) abstain; "I do not know"
and "Well, I don't know" do not. Citations play no part: what the user reads decides. Rows
without ``passages`` count for neither score.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from liftoff.evaluation.metrics.base import Corpus, Input, RatioMetric, Row, package_version
from liftoff.evaluation.metrics.passages import Passage, words


class _Abstaining(RatioMetric):
    """A row holds [abstained and the score applies, the score applies]."""

    inputs: ClassVar[frozenset[Input]] = frozenset({"predictions", "passages"})

    def statistics(self, corpus: Corpus) -> list[Row]:
        (name,) = self.selected
        phrase = words(self.options.abstention.phrase)
        rows: list[Row] = []
        for prediction, answering in zip(corpus.predictions, corpus.given("passages"), strict=True):
            applies = self.applies(name, answering)
            abstained = applies and words(prediction)[: len(phrase)] == phrase
            rows.append([float(abstained), float(applies)])
        return rows

    def signature_fields(self, name: str) -> dict[str, object]:
        phrase = "-".join(words(self.options.abstention.phrase))
        return {"phrase": phrase, "match": "first-words", "agg": "mean"}

    def version(self) -> str:
        return f"liftoff-{package_version('liftoff')}"


class Abstention(_Abstaining):
    names: ClassVar[tuple[str, ...]] = ("abstention",)

    @classmethod
    def applies(cls, name: str, passages: Sequence[Passage] | None) -> bool:
        return passages is not None and not passages


class FalseAbstention(_Abstaining):
    names: ClassVar[tuple[str, ...]] = ("false_abstention",)
    higher_is_better: ClassVar[bool] = False

    @classmethod
    def applies(cls, name: str, passages: Sequence[Passage] | None) -> bool:
        return bool(passages)
