"""The steps every metric follows, and the score they produce.

Like sacrebleu's ``Metric``, a metric here is a handful of steps:

1. ``prepare()`` loads what the metric needs, once, before any work (WordNet for METEOR).
2. ``statistics(corpus)`` turns each example into a row of numbers: n-gram counts for BLEU
   and chrF, edits for TER, precision/recall/F for ROUGE, the score for METEOR, a value and
   whether it counts for the ratio metrics. Rows are computed once (in worker processes for
   large corpora) and everything else derives from them.
3. ``example_scores(name, rows)`` gives each example's score, ``corpus_score(name, rows)``
   the corpus score, ``signature_fields(name)`` the settings behind them.
4. ``resampled_scores(name, matrix, counts)`` gives the corpus score of bootstrap resamples,
   where ``counts[r, i]`` says how often example ``i`` is drawn in resample ``r``. Intervals
   are percentiles of those, reproducible for a seed (on one platform: the float sums of
   ROUGE/METEOR/TER resamples go through BLAS).

A :class:`Corpus` holds everything a metric may read, per example: predictions and
references (what :class:`TextMetric` reads), and the passages retrieved for each example and
those that answer it (the retrieval metrics). ``inputs`` says which a metric needs.

Three families fill the steps in: :class:`SacrebleuMetric` (BLEU, chrF, TER: the corpus
score comes from summed statistics, exactly as sacrebleu's ``corpus_score``),
:class:`MeanMetric` (ROUGE, METEOR: the corpus score is the mean of per-example scores) and
:class:`RatioMetric` (hit rate, MRR, abstention: a mean over the examples the metric applies
to, which are not always all of them).
"""

from __future__ import annotations

import functools
import importlib.metadata
import math
import statistics
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from liftoff.evaluation.metrics.options import BootstrapOptions, ScoreOptions
from liftoff.evaluation.metrics.passages import Citation, Passage

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

Row = Sequence[float]
References = Sequence[Sequence[str]]
Input = Literal["predictions", "references", "retrieved", "passages"]

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
    A ratio metric's ``per_example`` is None where it does not apply (hit rate for a
    question no passage answers).
    """

    name: str
    corpus: float
    per_example: tuple[float | None, ...]
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


@dataclass(frozen=True)
class Corpus:
    """What metrics read, one entry per example in dataset order. ``references``,
    ``retrieved`` (the citations of each answer, best first) and ``passages`` (those that
    answer each question; None: not said) are None when not given; :func:`score` checks that
    every metric asked for has what it reads."""

    predictions: Sequence[str]
    references: References | None = None
    retrieved: Sequence[Sequence[Citation]] | None = None
    passages: Sequence[Sequence[Passage] | None] | None = None

    def __len__(self) -> int:
        return len(self.predictions)

    def part(self, start: int, stop: int) -> Corpus:
        """Examples ``start`` to ``stop`` (a worker's chunk)."""

        def cut(values: Sequence[Any] | None) -> Sequence[Any] | None:
            return None if values is None else values[start:stop]

        return Corpus(
            self.predictions[start:stop],
            cut(self.references),
            cut(self.retrieved),
            cut(self.passages),
        )

    def given(self, field: Input) -> Sequence[Any]:
        """One of the inputs; raises ``ValueError`` when it was not given (:func:`score`
        checks first, so this is a bug, not bad input)."""
        values: Sequence[Any] | None = getattr(self, field)
        if values is None:
            raise ValueError(f"the corpus has no {field}")
        return values


class Metric(ABC):
    """A metric computing one or more named scores; subclasses fill in the steps.

    ``names`` lists every score a metric class can compute (ROUGE computes four);
    an instance computes ``selected``, a subset. ``higher_is_better`` is False for error
    rates (TER), where a drop is an improvement.
    """

    names: ClassVar[tuple[str, ...]]
    scale: ClassVar[float]
    higher_is_better: ClassVar[bool] = True
    inputs: ClassVar[frozenset[Input]] = frozenset({"predictions", "references"})
    # Families of names with a cutoff: ``hit_rate`` makes ``hit_rate@1``, ``hit_rate@10``...
    families: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def computes(cls, name: str) -> bool:
        """Whether ``name`` (canonical) is one of this metric's scores."""
        return name in cls.names or name.partition("@")[0] in cls.families

    def __init__(self, selected: Sequence[str], options: ScoreOptions) -> None:
        unknown = [name for name in selected if not self.computes(name)]
        if unknown or not selected:
            raise ValueError(f"{type(self).__name__} computes {self.names}, not {unknown}")
        self.selected = tuple(selected)
        self.options = options

    def prepare(self) -> None:  # noqa: B027 (an optional step)
        """Load what the metric needs (libraries, WordNet) before any statistics are computed,
        in this process: worker processes forked afterwards inherit it."""

    @abstractmethod
    def statistics(self, corpus: Corpus) -> list[Row]:
        """One row of numbers per example."""

    @abstractmethod
    def example_scores(self, name: str, rows: Sequence[Row]) -> Sequence[float | None]:
        """Each example's ``name`` score (None where the metric does not apply)."""

    @abstractmethod
    def corpus_score(self, name: str, rows: Sequence[Row]) -> float:
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
            fields = self.signature_fields(name)
            if "references" in self.inputs:
                fields = {"nrefs": nrefs, **fields}
            if bootstrap.resamples:
                fields |= {"ci": f"{CONFIDENCE_LEVEL:.0%}", "bs": bootstrap.resamples}
                fields["rs"] = bootstrap.seed
            fields["version"] = self.version()
            results.append(
                Score(
                    name=name,
                    corpus=self.corpus_score(name, rows),
                    per_example=tuple(self.example_scores(name, rows)),
                    signature=format_signature(fields),
                    scale=self.scale,
                    components=self.components(name, rows),
                )
            )
        return results


class TextMetric(Metric):
    """A metric of predictions against references: rows from ``segment_statistics``."""

    def statistics(self, corpus: Corpus) -> list[Row]:
        return self.segment_statistics(corpus.predictions, corpus.given("references"))

    @abstractmethod
    def segment_statistics(self, predictions: Sequence[str], references: References) -> list[Row]:
        """One row of numbers per example."""


class SacrebleuMetric(TextMetric):
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

    def corpus_score(self, name: str, rows: Sequence[Row]) -> float:
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


class MeanMetric(TextMetric):
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

    def corpus_score(self, name: str, rows: Sequence[Row]) -> float:
        column = self.value_column(name)
        return statistics.fmean(row[column] for row in rows)

    def resampled_scores(
        self, name: str, matrix: npt.NDArray[np.float64], counts: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.float64]:
        column = matrix[:, self.value_column(name)]
        result: npt.NDArray[np.float64] = (counts @ column) / counts.shape[1]
        return result


class RatioMetric(Metric):
    """Hit rate, MRR, abstention: a mean over the examples a metric applies to.

    Each selected score has two columns in a row: the example's value and 1 when the metric
    applies to the example (0, with value 0, when not). The corpus score is the sum of values
    over the number of examples it applies to; a bootstrap resample's is the same ratio over
    the drawn examples (the ratio estimator: resamples draw from all examples, so intervals
    stay paired with every other metric's). A resample that draws no example the metric
    applies to has no score and is left out of the percentiles.
    """

    scale: ClassVar[float] = 1.0

    @classmethod
    @abstractmethod
    def applies(cls, name: str, passages: Sequence[Passage] | None) -> bool:
        """Whether score ``name`` counts an example that these passages answer (None: the
        example says nothing about passages)."""

    def columns(self, name: str) -> tuple[int, int]:
        """Where ``name``'s value and its applies-flag sit in a row."""
        index = 2 * self.selected.index(name)
        return index, index + 1

    def example_scores(self, name: str, rows: Sequence[Row]) -> list[float | None]:
        value, applies = self.columns(name)
        return [row[value] if row[applies] else None for row in rows]

    def corpus_score(self, name: str, rows: Sequence[Row]) -> float:
        value, applies = self.columns(name)
        count = sum(row[applies] for row in rows)
        if not count:
            raise ValueError(f"{name} applies to none of the examples")
        return math.fsum(row[value] for row in rows) / count

    def resampled_scores(
        self, name: str, matrix: npt.NDArray[np.float64], counts: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.float64]:
        import numpy as np

        value, applies = self.columns(name)
        totals = counts @ matrix[:, [value, applies]]
        result: npt.NDArray[np.float64] = np.full(len(totals), np.nan)
        np.divide(totals[:, 0], totals[:, 1], out=result, where=totals[:, 1] > 0)
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
        # nanpercentile: a ratio metric's resample without an example it applies to is NaN.
        low, high = np.nanpercentile(np.concatenate(collected), [tail, 100 - tail])
        intervals.append(ConfidenceInterval(low=float(low), high=float(high)))
    return intervals
