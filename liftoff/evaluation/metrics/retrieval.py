"""Hit rate and MRR of the passages a retriever returned, as the IR literature defines them.

For a question q, let rank(q) be the rank of the first retrieved passage that answers it
(the first citation is rank 1; when a passage answers, see
:mod:`~liftoff.evaluation.metrics.passages`), or none. Then, at a cutoff k:

    hit_rate@k(q) = 1 if rank(q) <= k else 0
    RR@k(q)       = 1 / rank(q) if rank(q) <= k else 0

and ``hit_rate@k`` and ``mrr@k`` are their means over the questions. ``hit_rate`` and ``mrr``
without ``@k`` read every citation (k is infinite). These are ranx's *Hit Rate / Success*
("the fraction of queries for which at least one relevant document is retrieved", which is
trec_eval's ``success``) and *(Mean) Reciprocal Rank* ("the multiplicative inverse of the
rank of the first retrieved relevant document"), both at cutoff k
(https://amenra.github.io/ranx/metrics/); MRR is the measure of the TREC-8 question
answering track (Voorhees, 1999). Cutoffs run from 1 to 100, the most citations a run keeps.

A question counts only when some passage answers it: a ranking metric is defined against
the relevant documents, and ranx's and BEIR's qrels list queries with theirs. A row without
``passages`` is not a retrieval question; ``"passages": []`` marks one nothing answers,
which :mod:`~liftoff.evaluation.metrics.abstention` scores instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from liftoff.evaluation.metrics.base import Corpus, Input, RatioMetric, Row, package_version
from liftoff.evaluation.metrics.passages import MAX_CITATIONS, Passage, first_answering_rank

MAX_K = MAX_CITATIONS


def cutoff(name: str) -> tuple[str, int | None]:
    """``"mrr@10"`` → ``("mrr", 10)``; ``"mrr"`` → ``("mrr", None)``."""
    family, _, k = name.partition("@")
    return family, int(k) if k else None


class Ranking(RatioMetric):
    """Hit rate and MRR, with or without a cutoff; a row holds each selected score's value
    and whether the question counts."""

    names: ClassVar[tuple[str, ...]] = ("hit_rate", "mrr")
    families: ClassVar[tuple[str, ...]] = ("hit_rate", "mrr")
    inputs: ClassVar[frozenset[Input]] = frozenset({"retrieved", "passages"})

    @classmethod
    def applies(cls, name: str, passages: Sequence[Passage] | None) -> bool:
        return bool(passages)

    def statistics(self, corpus: Corpus) -> list[Row]:
        cutoffs = [cutoff(name) for name in self.selected]
        rows: list[Row] = []
        for citations, answering in zip(
            corpus.given("retrieved"), corpus.given("passages"), strict=True
        ):
            if not answering:
                rows.append([0.0] * (2 * len(cutoffs)))
                continue
            rank = first_answering_rank(citations, answering)
            row: list[float] = []
            for family, k in cutoffs:
                if rank is None or (k is not None and rank > k):
                    row += [0.0, 1.0]
                else:
                    row += [1.0 if family == "hit_rate" else 1.0 / rank, 1.0]
            rows.append(row)
        return rows

    def signature_fields(self, name: str) -> dict[str, object]:
        _, k = cutoff(name)
        return {"k": "all" if k is None else k, "match": "id,words", "agg": "mean"}

    def version(self) -> str:
        return f"liftoff-{package_version('liftoff')}"
