"""Every metric by name: the fixed names (``bleu``, ``rougeL``, ``abstention``) and the
families with a cutoff (``hit_rate@4``, ``mrr@10``).

    >>> METRICS["hit_rate@4"].__name__, METRICS["rougeL"].__name__
    ('Ranking', 'Rouge')
    >>> canonical_metrics(["ROUGEL", "Hit_Rate@04", "mrr"])
    ('rougeL', 'hit_rate@4', 'mrr')
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from liftoff.evaluation.errors import InvalidInput
from liftoff.evaluation.metrics.abstention import Abstention, FalseAbstention
from liftoff.evaluation.metrics.base import Metric
from liftoff.evaluation.metrics.bleu import BLEU
from liftoff.evaluation.metrics.chrf import CHRF
from liftoff.evaluation.metrics.meteor import Meteor
from liftoff.evaluation.metrics.retrieval import MAX_K, Ranking
from liftoff.evaluation.metrics.rouge import Rouge
from liftoff.evaluation.metrics.ter import TER


class MetricRegistry(Mapping[str, type[Metric]]):
    """Canonical metric names → metric classes. Iterating lists the fixed names; a family
    name with a cutoff (``hit_rate@4``: 1 to ``MAX_K``, no leading zeros) is found too."""

    def __init__(self, metrics: Sequence[type[Metric]]) -> None:
        self._names = {name: metric for metric in metrics for name in metric.names}
        self._families = {name: metric for metric in metrics for name in metric.families}

    def __getitem__(self, name: str) -> type[Metric]:
        found = self._names.get(name)
        if found is not None:
            return found
        family, at, k = name.partition("@")
        canonical = at and k.isascii() and k.isdigit() and str(int(k)) == k
        if canonical and family in self._families and 1 <= int(k) <= MAX_K:
            return self._families[family]
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def canonical(self, requested: object) -> str:
        """``requested`` as the registry spells it; raises ``InvalidInput`` naming it."""
        by_lower = {name.lower(): name for name in self._names}
        if isinstance(requested, str):
            family, at, k = requested.partition("@")
            if not at and family.lower() in by_lower:
                return by_lower[family.lower()]
            families = {name.lower(): name for name in self._families}
            if at and family.lower() in families:
                if not (k.isascii() and k.isdigit() and 1 <= int(k) <= MAX_K):
                    raise InvalidInput(
                        f"metric {requested!r}: the cutoff after @ is a whole number of "
                        f"passages from 1 to {MAX_K}",
                        param="metrics",
                    )
                return f"{families[family.lower()]}@{int(k)}"
        known = [*self._names, *(f"{family}@K" for family in self._families)]
        raise InvalidInput(
            f"unknown metric {requested!r}; known: {', '.join(known)}", param="metrics"
        )


METRICS = MetricRegistry((BLEU, CHRF, TER, Rouge, Meteor, Ranking, Abstention, FalseAbstention))
TEXT_INPUTS = frozenset({"predictions", "references"})
# What a run scores unless told otherwise: every metric of predictions against references.
DEFAULT_METRICS: tuple[str, ...] = tuple(
    name for name, metric in METRICS.items() if metric.inputs == TEXT_INPUTS
)


def canonical_metrics(metrics: str | Sequence[str]) -> tuple[str, ...]:
    """Metric names as :data:`METRICS` spells them (``ROUGEL`` → ``rougeL``, ``MRR@05`` →
    ``mrr@5``), without repeats.

    Raises :class:`~liftoff.evaluation.errors.InvalidInput` (``param="metrics"``) naming an
    unknown metric or a bad cutoff, or when none is named.
    """
    if isinstance(metrics, str):
        metrics = [metrics]
    names: list[str] = []
    for requested in metrics:
        name = METRICS.canonical(requested)
        if name not in names:
            names.append(name)
    if not names:
        raise InvalidInput("no metrics requested", param="metrics")
    return tuple(names)
