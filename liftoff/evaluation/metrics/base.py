"""The steps every metric follows, and the score they produce.

Like sacrebleu's ``Metric``, a metric here is a handful of steps:

1. ``prepare()`` loads what the metric needs, once, before any work (WordNet for METEOR).
2. ``segment_statistics(predictions, references)`` turns each example into a row of numbers:
   n-gram counts for BLEU and chrF, edits for TER, precision/recall/F for ROUGE, the
   score for METEOR. Rows are computed once (in worker processes for large corpora) and
   everything else derives from them.
3. ``example_scores(name, rows)`` gives each example's score, ``corpus_score(name, ...)`` the
   corpus score, ``signature_fields(name)`` the settings behind them.
4. ``resampled_scores(name, matrix, counts)`` gives the corpus score of bootstrap resamples,
   where ``counts[r, i]`` says how often example ``i`` is drawn in resample ``r``. Intervals
   are percentiles of those, reproducible for a seed (on one platform: the float sums of
   ROUGE/METEOR/TER resamples go through BLAS).

Two families fill the steps in: :class:`SacrebleuMetric` (BLEU, chrF, TER: the corpus score
comes from summed statistics, exactly as sacrebleu's ``corpus_score``) and
:class:`MeanMetric` (ROUGE, METEOR: the corpus score is the mean of per-example scores).
"""

from __future__ import annotations

import functools
import importlib.metadata
import statistics
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from liftoff.evaluation.metrics.options import BootstrapOptions, ScoreOptions

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

Row = Sequence[float]
References = Sequence[Sequence[str]]

CONFIDENCE_LEVEL = 0.95
_RESAMPLES_PER_DRAW = 100  # resamples drawn at a time; part of what the seed means


@dataclass(frozen=True)
class ConfidenceInterval:
    """A percentile bootstrap interval around a corpus score."""

    low: float
    high: float
    level: float = CONFIDENCE_LEVEL


@dataclass(frozen=True)
class Score:
    """One metric's result: the corpus score, every example's score, and how they were made.

        >>> from liftoff.evaluation.metrics import score
        >>> bleu = score(["the cat sat on the mat"], ["the cat sat on a mat"], ["bleu"])["bleu"]
        >>> round(bleu.corpus, 2), bleu.per_example == (bleu.corpus,), bleu.scale
        (53.73, True, 100.0)
        >>> bleu.signature
        'nrefs:1|case:mixed|eff:per-example|tok:13a|smooth:exp|agg:corpus|ci:95%|bs:1000|rs:12345|version:sacrebleu-2.6.0'

    ``components`` holds further per-example values (ROUGE's ``precision`` and ``recall``).
    """

    name: str
    corpus: float
    per_example: tuple[float, ...]
    signature: str
    scale: float
    ci: ConfidenceInterval | None = None
    components: Mapping[str, tuple[float, ...]] = field(default_factory=dict)

    def format(self, width: int = 4) -> str:
        """``name|signature = score [low, high]``, sacrebleu style."""
        text = f"{self.name}|{self.signature} = {self.corpus:.{width}f}"
        if self.ci is not None:
            text += f" [{self.ci.low:.{width}f}, {self.ci.high:.{width}f}]"
        return text


def format_signature(fields: Mapping[str, object]) -> str:
    """``key:value|key:value``; booleans as yes/no, ``None`` left out (sacrebleu's format)."""
    parts = []
    for key, value in fields.items():
        if value is None:
            continue
        if isinstance(value, bool):
            value = "yes" if value else "no"
        parts.append(f"{key}:{value}")
    return "|".join(parts)


@functools.cache
def package_version(distribution: str) -> str:
    return importlib.metadata.version(distribution)


class Metric(ABC):
    """A metric computing one or more named scores; subclasses fill in the steps.

    ``names`` lists every score a metric class can compute (ROUGE computes four);
    an instance computes ``selected``, a subset. ``higher_is_better`` is False for error
    rates (TER), where a drop is an improvement.
    """

    names: ClassVar[tuple[str, ...]]
    scale: ClassVar[float]
    higher_is_better: ClassVar[bool] = True

    def __init__(self, selected: Sequence[str], options: ScoreOptions) -> None:
        unknown = [name for name in selected if name not in self.names]
        if unknown or not selected:
            raise ValueError(f"{type(self).__name__} computes {self.names}, not {unknown}")
        self.selected = tuple(selected)
        self.options = options

    def prepare(self) -> None:  # noqa: B027 (an optional step)
        """Load what the metric needs (libraries, WordNet) before any statistics are computed,
        in this process: worker processes forked afterwards inherit it."""

    @abstractmethod
    def segment_statistics(self, predictions: Sequence[str], references: References) -> list[Row]:
        """One row of numbers per example."""

    @abstractmethod
    def example_scores(self, name: str, rows: Sequence[Row]) -> list[float]:
        """Each example's ``name`` score."""

    @abstractmethod
    def corpus_score(self, name: str, rows: Sequence[Row], per_example: Sequence[float]) -> float:
        """The corpus ``name`` score."""

    @abstractmethod
    def resampled_scores(
        self, name: str, matrix: npt.NDArray[np.float64], counts: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.float64]:
        """The corpus ``name`` score of each resample: ``matrix`` holds the rows (as floats:
        counts are integers far below 2**53, so sums stay exact), ``counts`` how often each
        example is drawn (resamples x examples)."""

    @abstractmethod
    def signature_fields(self, name: str) -> dict[str, object]:
        """The settings behind ``name``, in sacrebleu's signature order (without version)."""

    def components(self, name: str, rows: Sequence[Row]) -> dict[str, tuple[float, ...]]:
        """Further per-example values of ``name`` (none by default)."""
        return {}

    @abstractmethod
    def version(self) -> str:
        """``<library>-<version>`` of the reference implementation."""

    def scores(self, rows: Sequence[Row], nrefs: str) -> list[Score]:
        """Every selected score from the rows, without confidence intervals."""
        results = []
        bootstrap = self.options.bootstrap
        for name in self.selected:
            per_example = self.example_scores(name, rows)
            fields = {"nrefs": nrefs, **self.signature_fields(name)}
            if bootstrap.resamples:
                fields |= {"ci": f"{CONFIDENCE_LEVEL:.0%}", "bs": bootstrap.resamples}
                fields["rs"] = bootstrap.seed
            fields["version"] = self.version()
            results.append(
                Score(
                    name=name,
                    corpus=self.corpus_score(name, rows, per_example),
                    per_example=tuple(per_example),
                    signature=format_signature(fields),
                    scale=self.scale,
                    components=self.components(name, rows),
                )
            )
        return results


class SacrebleuMetric(Metric):
    """BLEU, chrF, TER: sacrebleu's own sufficient statistics, computed once per example.

    Statistics come from sacrebleu's ``Metric._extract_corpus_statistics`` and scores from its
    ``_compute_score_from_stats``: the two statistics hooks that sacrebleu's own
    ``corpus_score``, ``sentence_score`` and paired significance tests are built on (same
    names and meaning since sacrebleu 2.0). Per example: the sentence-level metric on the
    example's statistics, which is ``sentence_*``; corpus: the corpus-level metric on the
    statistics summed with sacrebleu's ``sum_of_lists``, which is ``corpus_*``.
    """

    @abstractmethod
    def sacrebleu_metric(self, sentence: bool) -> Any:
        """The sacrebleu metric object: sentence-level (``sentence_*``) or corpus-level."""

    def segment_statistics(self, predictions: Sequence[str], references: References) -> list[Row]:
        return library_statistics(self.sacrebleu_metric(False), predictions, references)

    def sentence_score_from_stats(self, row: Row) -> float:
        """sacrebleu's sentence-level score from one example's statistics."""
        return float(self.sacrebleu_metric(True)._compute_score_from_stats(list(row)).score)

    def corpus_score_from_stats(self, totals: Row) -> float:
        """sacrebleu's corpus-level score from summed statistics."""
        return float(self.sacrebleu_metric(False)._compute_score_from_stats(list(totals)).score)

    def version(self) -> str:
        return f"sacrebleu-{package_version('sacrebleu')}"

    def example_scores(self, name: str, rows: Sequence[Row]) -> list[float]:
        return [self.sentence_score_from_stats(row) for row in rows]

    def corpus_score(self, name: str, rows: Sequence[Row], per_example: Sequence[float]) -> float:
        from sacrebleu import utils

        sum_of_lists: Callable[[list[Row]], Row] = utils.sum_of_lists
        return self.corpus_score_from_stats(sum_of_lists(list(rows)))

    def resampled_scores(
        self, name: str, matrix: npt.NDArray[np.float64], counts: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.float64]:
        import numpy as np

        totals = counts @ matrix
        return np.array([self.corpus_score_from_stats(row) for row in totals.tolist()])


def library_statistics(
    metric: Any, predictions: Sequence[str], references: References
) -> list[Row]:
    """sacrebleu's per-example statistics of ``metric`` (each example's own references)."""
    if not predictions:
        return []  # a worker's chunk can be empty
    width = max(len(refs) for refs in references)
    streams = [[refs[k] if k < len(refs) else None for refs in references] for k in range(width)]
    rows: list[Row] = metric._extract_corpus_statistics(list(predictions), streams)
    return rows


class MeanMetric(Metric):
    """ROUGE, METEOR: per-example scores in the rows; the corpus score is their mean.

    The mean is ``statistics.fmean`` (an exactly rounded sum divided by the count), so it does
    not depend on the order of examples. ``value_column`` says where ``name`` sits in a row.
    """

    @abstractmethod
    def value_column(self, name: str) -> int:
        """Index of ``name``'s score in a row."""

    def example_scores(self, name: str, rows: Sequence[Row]) -> list[float]:
        column = self.value_column(name)
        return [row[column] for row in rows]

    def corpus_score(self, name: str, rows: Sequence[Row], per_example: Sequence[float]) -> float:
        return statistics.fmean(per_example)

    def resampled_scores(
        self, name: str, matrix: npt.NDArray[np.float64], counts: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.float64]:
        column = matrix[:, self.value_column(name)]
        result: npt.NDArray[np.float64] = (counts @ column) / counts.shape[1]
        return result


def resample_counts(
    examples: int, bootstrap: BootstrapOptions
) -> Iterator[npt.NDArray[np.float64]]:
    """Bootstrap resamples, a block at a time: ``counts[r, i]`` = draws of example ``i``."""
    import numpy as np

    rng = np.random.default_rng(bootstrap.seed)
    for start in range(0, bootstrap.resamples, _RESAMPLES_PER_DRAW):
        size = min(_RESAMPLES_PER_DRAW, bootstrap.resamples - start)
        draws = rng.integers(0, examples, size=(size, examples))
        draws += np.arange(size)[:, None] * examples  # one bincount for the whole block
        counts = np.bincount(draws.ravel(), minlength=size * examples)
        yield counts.reshape(size, examples).astype(np.float64)


def confidence_intervals(
    jobs: Sequence[tuple[Metric, str, npt.NDArray[np.float64]]],
    examples: int,
    options: BootstrapOptions,
) -> list[ConfidenceInterval]:
    """The percentile interval of each (metric, score name, row matrix) job, on shared resamples."""
    import numpy as np

    samples: list[list[npt.NDArray[np.float64]]] = [[] for _ in jobs]
    for counts in resample_counts(examples, options):
        for collected, (metric, name, matrix) in zip(samples, jobs, strict=True):
            collected.append(metric.resampled_scores(name, matrix, counts))
    tail = (1 - CONFIDENCE_LEVEL) / 2 * 100
    intervals = []
    for collected in samples:
        low, high = np.percentile(np.concatenate(collected), [tail, 100 - tail])
        intervals.append(ConfidenceInterval(low=float(low), high=float(high)))
    return intervals
