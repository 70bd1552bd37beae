"""Scores that match the libraries people cite: sacrebleu, rouge-score, NLTK.

    >>> from liftoff.evaluation.metrics import score
    >>> results = score(
    ...     ["the cat sat on the mat", "a dog barked"],
    ...     [["the cat sat on a mat", "a cat was on the mat"], ["the dog barked loudly"]],
    ...     metrics=["bleu", "rougeL", "meteor"],
    ...     options={"bootstrap": {"resamples": 1000, "seed": 1}},
    ... )
    >>> results["rougeL"].corpus, results["rougeL"].ci.low, results["rougeL"].ci.high
    (0.7023809523809524, 0.5714285714285715, 0.8333333333333334)
    >>> results["rougeL"].signature
    'nrefs:var|tok:rouge-score|stem:no|agg:mean|ci:95%|bs:1000|rs:1|version:rouge-score-0.1.2'
    >>> results["rougeL"].per_example, results["rougeL"].components["recall"]
    ((0.8333333333333334, 0.5714285714285715), (0.8333333333333334, 0.5))

References are one string per example or a list of strings per example (any number, at
least one). Names and scales: ``bleu``, ``chrf``, ``ter`` on 0-100 (sacrebleu);
``rouge1``, ``rouge2``, ``rougeL``, ``rougeLsum``, ``meteor`` on 0-1. Each module says
exactly which reference-library call its scores equal. Where a faster copy of library code
pays, it lives in :mod:`liftoff.evaluation.metrics.accelerators`, pinned to the exact library
version it mirrors; with any other version the libraries' public API computes the scores.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from liftoff.evaluation.errors import InvalidInput
from liftoff.evaluation.metrics._runner import gc_paused, segment_statistics
from liftoff.evaluation.metrics.base import (
    ConfidenceInterval,
    Metric,
    Row,
    Score,
    confidence_intervals,
)
from liftoff.evaluation.metrics.bleu import BLEU
from liftoff.evaluation.metrics.chrf import CHRF
from liftoff.evaluation.metrics.meteor import Meteor
from liftoff.evaluation.metrics.options import (
    BootstrapOptions,
    MeteorOptions,
    RougeOptions,
    ScoreOptions,
)
from liftoff.evaluation.metrics.rouge import Rouge
from liftoff.evaluation.metrics.ter import TER

__all__ = [
    "DEFAULT_METRICS",
    "METRICS",
    "BootstrapOptions",
    "ConfidenceInterval",
    "MeteorOptions",
    "RougeOptions",
    "Score",
    "ScoreOptions",
    "canonical_metrics",
    "check_references",
    "score",
]

METRICS: dict[str, type[Metric]] = {
    name: metric for metric in (BLEU, CHRF, TER, Rouge, Meteor) for name in metric.names
}
DEFAULT_METRICS: tuple[str, ...] = tuple(METRICS)


def score(
    predictions: Sequence[str],
    references: Sequence[str] | Sequence[Sequence[str]],
    metrics: Sequence[str] = DEFAULT_METRICS,
    options: ScoreOptions | Mapping[str, Any] | None = None,
) -> dict[str, Score]:
    """Score predictions against references with each named metric, in the order named.

    Raises :class:`~liftoff.evaluation.errors.InvalidInput` (a ``ValueError``) naming the problem:
    lengths that differ, an item that is not a string, an example without references, an
    unknown metric or option. METEOR raises :class:`~liftoff.evaluation.errors.WordNetUnavailable`
    when WordNet 3.0 cannot be provisioned, and
    :class:`~liftoff.evaluation.errors.PunktUnavailable` when its ``nltk-word-tokenize``
    tokenization lacks NLTK's Punkt model.
    """
    settings = _check_options(options)
    hypotheses = _check_predictions(predictions)
    refs = check_references(references, len(hypotheses))
    names = canonical_metrics(metrics)
    instances = [
        metric([name for name in names if name in metric.names], settings)
        for metric in dict.fromkeys(METRICS[name] for name in names)
    ]
    for instance in instances:
        instance.prepare()
    counts = {len(r) for r in refs}
    nrefs = str(counts.pop()) if len(counts) == 1 else "var"
    with gc_paused():
        rows = segment_statistics(instances, hypotheses, refs, settings)
        results = {
            s.name: s for m, r in zip(instances, rows, strict=True) for s in m.scores(r, nrefs)
        }
        if settings.bootstrap.resamples:
            _add_intervals(results, instances, rows, settings.bootstrap)
    return {name: results[name] for name in names}


def _check_options(options: ScoreOptions | Mapping[str, Any] | None) -> ScoreOptions:
    if options is None or isinstance(options, ScoreOptions):
        return options or ScoreOptions()
    try:
        return ScoreOptions.model_validate(options)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, error['loc'])) or 'options'}: {error['msg']}"
            for error in exc.errors()
        )
        raise InvalidInput(f"invalid options: {problems}", param="options") from exc


def _check_predictions(predictions: Sequence[str]) -> list[str]:
    if isinstance(predictions, str) or not isinstance(predictions, Sequence):
        raise InvalidInput("predictions must be a list of strings", param="predictions")
    if not predictions:
        raise InvalidInput("predictions is empty: nothing to score", param="predictions")
    for index, prediction in enumerate(predictions):
        if not isinstance(prediction, str):
            raise InvalidInput(
                f"predictions[{index}] is {type(prediction).__name__}, not str",
                param="predictions",
            )
    return list(predictions)


def check_references(
    references: Sequence[str] | Sequence[Sequence[str]], examples: int
) -> list[list[str]]:
    """References as one list of strings per example; raises ``InvalidInput`` naming the
    first entry that is not (the scoring service calls this before any worker starts)."""
    if isinstance(references, str) or not isinstance(references, Sequence):
        raise InvalidInput("references must be a list", param="references")
    if len(references) != examples:
        raise InvalidInput(
            f"{examples} predictions but {len(references)} references: one entry per "
            "prediction (a string, or a list of strings)",
            param="references",
        )
    checked: list[list[str]] = []
    for index, entry in enumerate(references):
        refs = [entry] if isinstance(entry, str) else entry
        if isinstance(refs, str) or not isinstance(refs, Sequence):
            raise InvalidInput(
                f"references[{index}] must be a string or a list of strings, got {_kind(entry)}",
                param="references",
            )
        if not refs:
            raise InvalidInput(
                f"references[{index}] is empty: give at least one", param="references"
            )
        for position, ref in enumerate(refs):
            if not isinstance(ref, str):
                raise InvalidInput(
                    f"references[{index}][{position}] must be a string, got {_kind(ref)}",
                    param="references",
                )
        checked.append(list(refs))
    return checked


def _kind(value: object) -> str:
    """A value's type as JSON users know it."""
    return "null" if value is None else type(value).__name__


def canonical_metrics(metrics: str | Sequence[str]) -> tuple[str, ...]:
    """Metric names as :data:`METRICS` spells them (``ROUGEL`` → ``rougeL``), without repeats.

    Raises :class:`~liftoff.evaluation.errors.InvalidInput` (``param="metrics"``) naming an
    unknown metric, or when none is named.
    """
    if isinstance(metrics, str):
        metrics = [metrics]
    by_lower = {name.lower(): name for name in METRICS}
    names: list[str] = []
    for requested in metrics:
        name = by_lower.get(requested.lower()) if isinstance(requested, str) else None
        if name is None:
            raise InvalidInput(
                f"unknown metric {requested!r}; known: {', '.join(METRICS)}", param="metrics"
            )
        if name not in names:
            names.append(name)
    if not names:
        raise InvalidInput("no metrics requested", param="metrics")
    return tuple(names)


def _add_intervals(
    results: dict[str, Score],
    metrics: list[Metric],
    rows: list[list[Row]],
    options: BootstrapOptions,
) -> None:
    import dataclasses

    import numpy as np

    jobs = [
        (metric, name, np.asarray(metric_rows, dtype=np.float64))
        for metric, metric_rows in zip(metrics, rows, strict=True)
        for name in metric.selected
    ]
    examples = len(rows[0])
    for (_, name, _), interval in zip(
        jobs, confidence_intervals(jobs, examples, options), strict=True
    ):
        results[name] = dataclasses.replace(results[name], ci=interval)
