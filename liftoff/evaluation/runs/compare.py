"""Two runs compared: per-metric delta with a paired bootstrap confidence interval.

Examples are paired by id (those in both runs). Each bootstrap resample draws the same
examples for both runs, and the delta's interval is the percentile interval of
``candidate - baseline`` over the resamples: sacrebleu's paired bootstrap, computed from
each metric's own statistics, so BLEU, chrF and TER resamples are true corpus scores.

    >>> comparison = compare(baseline, candidate)           # doctest: +SKIP
    >>> d = comparison.deltas["bleu"]; d.delta, d.ci_low, d.ci_high   # doctest: +SKIP

A positive delta means the candidate scored higher (for TER, lower is better: see
``improved``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from liftoff.evaluation.metrics import METRICS, BootstrapOptions, ScoreOptions
from liftoff.evaluation.metrics.base import CONFIDENCE_LEVEL, Metric, resample_counts
from liftoff.evaluation.runs.errors import RunNotComparable
from liftoff.evaluation.runs.model import LOWER_IS_BETTER, LoadedRun

DEFAULT_RESAMPLES = 1000


@dataclass(frozen=True)
class MetricDelta:
    name: str
    baseline: float
    candidate: float
    ci_low: float
    ci_high: float
    scale: float

    @property
    def delta(self) -> float:
        return self.candidate - self.baseline

    @property
    def higher_is_better(self) -> bool:
        return self.name not in LOWER_IS_BETTER

    @property
    def improved(self) -> float:
        """The delta in the direction of better (positive: the candidate is better)."""
        return self.delta if self.higher_is_better else -self.delta

    @property
    def significant(self) -> bool:
        """The interval excludes zero."""
        return self.ci_low > 0 or self.ci_high < 0

    def to_json(self) -> dict[str, Any]:
        return {
            "baseline": self.baseline,
            "candidate": self.candidate,
            "delta": self.delta,
            "ci": {"low": self.ci_low, "high": self.ci_high, "level": CONFIDENCE_LEVEL},
            "scale": self.scale,
            "higher_is_better": self.higher_is_better,
            "significant": self.significant,
        }


@dataclass(frozen=True)
class Comparison:
    baseline: str
    candidate: str
    examples: int
    only_in_baseline: int
    only_in_candidate: int
    resamples: int
    seed: int
    deltas: dict[str, MetricDelta]

    def to_json(self) -> dict[str, Any]:
        return {
            "object": "evaluation.comparison",
            "baseline": self.baseline,
            "candidate": self.candidate,
            "examples": self.examples,
            "only_in_baseline": self.only_in_baseline,
            "only_in_candidate": self.only_in_candidate,
            "bootstrap": {"resamples": self.resamples, "seed": self.seed, "paired": True},
            "metrics": {name: delta.to_json() for name, delta in self.deltas.items()},
        }


def compare(baseline: LoadedRun, candidate: LoadedRun) -> Comparison:
    """Paired comparison on the metrics both (completed) runs were scored with."""
    for side in (baseline, candidate):
        if side.run.status != "completed":
            raise RunNotComparable(
                f"run {side.run.id} is {side.run.status}, not completed: only scored runs compare"
            )
    metrics = [name for name in candidate.run.corpus if name in baseline.run.corpus]
    if not metrics:
        raise RunNotComparable(
            f"runs {baseline.run.id} and {candidate.run.id} share no metric to compare"
        )
    options = candidate.run.spec.options
    if options.rouge != baseline.run.spec.options.rouge and any(
        name.startswith("rouge") for name in metrics
    ):
        raise RunNotComparable("the runs scored ROUGE with different options (use_stemmer)")
    if options.meteor != baseline.run.spec.options.meteor and "meteor" in metrics:
        raise RunNotComparable("the runs scored METEOR with different tokenizations")
    base = {r.example.id: r for r in baseline.examples if r.output is not None}
    cand = {r.example.id: r for r in candidate.examples if r.output is not None}
    shared = [example_id for example_id in cand if example_id in base]
    if not shared:
        raise RunNotComparable(
            f"runs {baseline.run.id} and {candidate.run.id} have no example id in common"
        )
    bootstrap = options.bootstrap
    if not bootstrap.resamples:
        bootstrap = BootstrapOptions(resamples=DEFAULT_RESAMPLES, seed=bootstrap.seed)
    deltas = paired_deltas(
        [base[i].output or "" for i in shared],
        [list(base[i].example.references) for i in shared],
        [cand[i].output or "" for i in shared],
        [list(cand[i].example.references) for i in shared],
        metrics,
        options.model_copy(update={"bootstrap": bootstrap}),
    )
    return Comparison(
        baseline=baseline.run.id,
        candidate=candidate.run.id,
        examples=len(shared),
        only_in_baseline=len(base) - len(shared),
        only_in_candidate=len(cand) - len(shared),
        resamples=bootstrap.resamples,
        seed=bootstrap.seed,
        deltas=deltas,
    )


def paired_deltas(
    baseline_predictions: Sequence[str],
    baseline_references: Sequence[Sequence[str]],
    candidate_predictions: Sequence[str],
    candidate_references: Sequence[Sequence[str]],
    metrics: Sequence[str],
    options: ScoreOptions,
) -> dict[str, MetricDelta]:
    """Corpus scores of both sides and the paired bootstrap interval of their difference."""
    import numpy as np

    jobs: list[tuple[Metric, str, Any, Any]] = []
    scores: dict[str, tuple[float, float, float]] = {}
    for metric_class in dict.fromkeys(METRICS[name] for name in metrics):
        metric = metric_class([n for n in metrics if n in metric_class.names], options)
        metric.prepare()
        rows_a = metric.segment_statistics(baseline_predictions, baseline_references)
        rows_b = metric.segment_statistics(candidate_predictions, candidate_references)
        for name in metric.selected:
            score_a = metric.corpus_score(name, rows_a, metric.example_scores(name, rows_a))
            score_b = metric.corpus_score(name, rows_b, metric.example_scores(name, rows_b))
            scores[name] = (score_a, score_b, metric.scale)
            jobs.append((metric, name, np.asarray(rows_a), np.asarray(rows_b)))
    samples: list[list[Any]] = [[] for _ in jobs]
    for counts in resample_counts(len(baseline_predictions), options.bootstrap):
        for collected, (metric, name, matrix_a, matrix_b) in zip(samples, jobs, strict=True):
            collected.append(
                metric.resampled_scores(name, matrix_b, counts)
                - metric.resampled_scores(name, matrix_a, counts)
            )
    tail = (1 - CONFIDENCE_LEVEL) / 2 * 100
    deltas: dict[str, MetricDelta] = {}
    for (_, name, _, _), collected in zip(jobs, samples, strict=True):
        low, high = np.percentile(np.concatenate(collected), [tail, 100 - tail])
        score_a, score_b, scale = scores[name]
        deltas[name] = MetricDelta(
            name=name,
            baseline=score_a,
            candidate=score_b,
            ci_low=float(low),
            ci_high=float(high),
            scale=scale,
        )
    return {name: deltas[name] for name in metrics}
