"""Two runs compared: per-metric delta with a paired bootstrap confidence interval.

Examples are paired by id (those in both runs). Each bootstrap resample draws the same
examples for both runs, and the delta's interval is the percentile interval of
``candidate - baseline`` over the resamples: sacrebleu's paired bootstrap, computed from
each metric's own statistics, so BLEU, chrF and TER resamples are true corpus scores.

    >>> comparison = compare(baseline, candidate)           # doctest: +SKIP
    >>> d = comparison.metrics["bleu"]; d.delta, d.ci.low, d.ci.high   # doctest: +SKIP

A positive delta means the candidate scored higher (for TER, lower is better: see
``improved``). The models are the wire shape: ``comparison.model_dump(mode="json")``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, computed_field

from liftoff.evaluation.errors import InvalidInput
from liftoff.evaluation.metrics import (
    METRICS,
    BootstrapOptions,
    Corpus,
    ScoreOptions,
    check_applicable,
    instances,
)
from liftoff.evaluation.metrics.base import CONFIDENCE_LEVEL, Metric, resample_counts
from liftoff.evaluation.runs.errors import RunNotComparable
from liftoff.evaluation.runs.model import ExampleRecord, Interval, LoadedRun

DEFAULT_RESAMPLES = 1000


class MetricDelta(BaseModel):
    """One metric of a comparison: both corpus scores and the paired interval of
    ``candidate - baseline``; ``significant`` when the interval excludes zero."""

    model_config = ConfigDict(frozen=True)

    baseline: float
    candidate: float
    ci: Interval
    scale: float
    higher_is_better: bool

    @computed_field  # type: ignore[prop-decorator]
    @property
    def delta(self) -> float:
        return self.candidate - self.baseline

    @computed_field  # type: ignore[prop-decorator]
    @property
    def significant(self) -> bool:
        return self.ci.low > 0 or self.ci.high < 0

    @property
    def improved(self) -> float:
        """The delta in the direction of better (positive: the candidate is better)."""
        return self.delta if self.higher_is_better else -self.delta


class PairedBootstrap(BaseModel):
    model_config = ConfigDict(frozen=True)

    resamples: int
    seed: int
    paired: Literal[True] = True


class Comparison(BaseModel):
    """``GET /v1/runs/{baseline}/compare/{candidate}``, and a run document's comparison."""

    model_config = ConfigDict(frozen=True)

    object: Literal["evaluation.comparison"] = "evaluation.comparison"
    baseline: str
    candidate: str
    examples: int
    only_in_baseline: int
    only_in_candidate: int
    bootstrap: PairedBootstrap
    metrics: dict[str, MetricDelta]


def compare(baseline: LoadedRun, candidate: LoadedRun) -> Comparison:
    """Paired comparison on the metrics both (completed) runs were scored with."""
    for side in (baseline, candidate):
        if side.run.status != "completed":
            raise RunNotComparable(
                f"run {side.run.id} is {side.run.status}, not completed: only scored runs compare"
            )
    metrics = [name for name in candidate.run.scores if name in baseline.run.scores]
    if not metrics:
        raise RunNotComparable(
            f"runs {baseline.run.id} and {candidate.run.id} share no metric to compare"
        )
    options = candidate.run.options
    if options.rouge != baseline.run.options.rouge and any(
        name.startswith("rouge") for name in metrics
    ):
        raise RunNotComparable("the runs scored ROUGE with different options (use_stemmer)")
    if options.meteor != baseline.run.options.meteor and "meteor" in metrics:
        raise RunNotComparable("the runs scored METEOR with different tokenizations")
    if options.abstention != baseline.run.options.abstention and any(
        name.endswith("abstention") for name in metrics
    ):
        raise RunNotComparable("the runs scored abstention with different phrases")
    base = {r.id: r for r in baseline.examples if r.prediction is not None}
    cand = {r.id: r for r in candidate.examples if r.prediction is not None}
    shared = [example_id for example_id in cand if example_id in base]
    if not shared:
        raise RunNotComparable(
            f"runs {baseline.run.id} and {candidate.run.id} have no example id in common"
        )
    bootstrap = options.bootstrap
    if not bootstrap.resamples:
        bootstrap = BootstrapOptions(resamples=DEFAULT_RESAMPLES, seed=bootstrap.seed)
    try:
        deltas = paired_deltas(
            scoring_corpus([base[i] for i in shared]),
            scoring_corpus([cand[i] for i in shared]),
            metrics,
            options.model_copy(update={"bootstrap": bootstrap}),
        )
    except InvalidInput as exc:  # a retrieval metric with nothing to score on the shared ids
        raise RunNotComparable(f"on the examples the runs share, {exc.message}") from exc
    return Comparison(
        baseline=baseline.run.id,
        candidate=candidate.run.id,
        examples=len(shared),
        only_in_baseline=len(base) - len(shared),
        only_in_candidate=len(cand) - len(shared),
        bootstrap=PairedBootstrap(resamples=bootstrap.resamples, seed=bootstrap.seed),
        metrics=deltas,
    )


def scoring_corpus(records: Sequence[ExampleRecord]) -> Corpus:
    """What the metrics read from a run's examples: outputs, references, citations (none
    kept: nothing retrieved) and the passages that answer each."""
    return Corpus(
        predictions=[record.prediction or "" for record in records],
        references=[list(record.references) for record in records],
        retrieved=[record.citations or () for record in records],
        passages=[record.passages for record in records],
    )


def paired_deltas(
    baseline: Corpus, candidate: Corpus, metrics: Sequence[str], options: ScoreOptions
) -> dict[str, MetricDelta]:
    """Corpus scores of both sides (examples paired by position) and the paired bootstrap
    interval of their difference. A ratio metric (hit rate, abstention) must apply to some
    example of each side (``check_applicable``); raises ``InvalidInput`` otherwise."""
    import numpy as np

    for side in (baseline, candidate):
        check_applicable(metrics, side.passages)
    jobs: list[tuple[Metric, str, Any, Any]] = []
    scores: dict[str, tuple[float, float, float]] = {}
    for metric in instances(metrics, options):
        metric.prepare()
        rows_a = metric.statistics(baseline)
        rows_b = metric.statistics(candidate)
        for name in metric.selected:
            scores[name] = (
                metric.corpus_score(name, rows_a),
                metric.corpus_score(name, rows_b),
                metric.scale,
            )
            jobs.append((metric, name, np.asarray(rows_a), np.asarray(rows_b)))
    samples: list[list[Any]] = [[] for _ in jobs]
    for counts in resample_counts(len(baseline), options.bootstrap):
        for collected, (metric, name, matrix_a, matrix_b) in zip(samples, jobs, strict=True):
            collected.append(
                metric.resampled_scores(name, matrix_b, counts)
                - metric.resampled_scores(name, matrix_a, counts)
            )
    tail = (1 - CONFIDENCE_LEVEL) / 2 * 100
    deltas: dict[str, MetricDelta] = {}
    for (_, name, _, _), collected in zip(jobs, samples, strict=True):
        low, high = np.nanpercentile(np.concatenate(collected), [tail, 100 - tail])
        score_a, score_b, scale = scores[name]
        deltas[name] = MetricDelta(
            baseline=score_a,
            candidate=score_b,
            ci=Interval(low=float(low), high=float(high)),
            scale=scale,
            higher_is_better=METRICS[name].higher_is_better,
        )
    return {name: deltas[name] for name in metrics}
