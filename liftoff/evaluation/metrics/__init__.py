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

Retrieval metrics read what was retrieved for each example and which passages answer it
(:mod:`~liftoff.evaluation.metrics.retrieval`: ``hit_rate@K``, ``mrr@K``, ``hit_rate``,
``mrr``; :mod:`~liftoff.evaluation.metrics.abstention`: ``abstention``,
``false_abstention``), all on 0-1:

    >>> results = score(
    ...     ["Up to two thousand.", "I don't know."],
    ...     metrics=["hit_rate@1", "mrr@4", "abstention"],
    ...     retrieved=[["drones.md", {"source": "queen.md", "chunk": 0}], []],
    ...     passages=[["queen.md"], []],
    ...     options={"bootstrap": {"resamples": 0}},
    ... )
    >>> results["hit_rate@1"].corpus, results["mrr@4"].per_example, results["abstention"].corpus
    (0.0, (0.5, None), 1.0)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from liftoff.evaluation.errors import InvalidInput
from liftoff.evaluation.metrics._runner import gc_paused, segment_statistics
from liftoff.evaluation.metrics.base import (
    ConfidenceInterval,
    Corpus,
    Metric,
    Row,
    Score,
    confidence_intervals,
)
from liftoff.evaluation.metrics.inputs import check_applicable, check_corpus, check_references
from liftoff.evaluation.metrics.options import (
    AbstentionOptions,
    BootstrapOptions,
    MeteorOptions,
    RougeOptions,
    ScoreOptions,
)
from liftoff.evaluation.metrics.passages import Citation, Passage
from liftoff.evaluation.metrics.registry import DEFAULT_METRICS, METRICS, canonical_metrics

__all__ = [
    "DEFAULT_METRICS",
    "METRICS",
    "AbstentionOptions",
    "BootstrapOptions",
    "Citation",
    "ConfidenceInterval",
    "Corpus",
    "MeteorOptions",
    "Passage",
    "RougeOptions",
    "Score",
    "ScoreOptions",
    "canonical_metrics",
    "check_applicable",
    "check_references",
    "instances",
    "score",
]


def score(
    predictions: Sequence[str],
    references: Sequence[str] | Sequence[Sequence[str]] | None = None,
    metrics: Sequence[str] = DEFAULT_METRICS,
    options: ScoreOptions | Mapping[str, Any] | None = None,
    retrieved: Sequence[Sequence[Citation | str | Mapping[str, Any]]] | None = None,
    passages: Sequence[Sequence[Passage | str | Mapping[str, Any]] | None] | None = None,
) -> dict[str, Score]:
    """Score predictions with each named metric, in the order named.

    ``references`` are what BLEU, chrF, TER, ROUGE and METEOR compare with; ``retrieved``
    (each example's citations, best first) and ``passages`` (those that answer it; None or
    absent: not said, ``[]``: nothing does) are what the retrieval metrics read. Each is
    needed only when a metric asked for reads it.

    Raises :class:`~liftoff.evaluation.errors.InvalidInput` (a ``ValueError``) naming the problem:
    lengths that differ, an item of the wrong type, an example without references, an input
    a metric needs and was not given, a retrieval metric with no example to score, an unknown
    metric or option. METEOR raises :class:`~liftoff.evaluation.errors.WordNetUnavailable`
    when WordNet 3.0 cannot be provisioned, and
    :class:`~liftoff.evaluation.errors.PunktUnavailable` when its ``nltk-word-tokenize``
    tokenization lacks NLTK's Punkt model.
    """
    settings = _check_options(options)
    hypotheses = _check_predictions(predictions)
    names = canonical_metrics(metrics)
    corpus = check_corpus(
        hypotheses, names, references=references, retrieved=retrieved, passages=passages
    )
    metrics_used = instances(names, settings)
    for instance in metrics_used:
        instance.prepare()
    counts = {len(r) for r in corpus.references or ()}
    nrefs = str(counts.pop()) if len(counts) == 1 else "var"
    with gc_paused():
        rows = segment_statistics(metrics_used, corpus, settings)
        results = {
            s.name: s for m, r in zip(metrics_used, rows, strict=True) for s in m.scores(r, nrefs)
        }
        if settings.bootstrap.resamples:
            _add_intervals(results, metrics_used, rows, settings.bootstrap)
    return {name: results[name] for name in names}


def instances(names: Sequence[str], options: ScoreOptions) -> list[Metric]:
    """One instance per metric class computing ``names`` (canonical), in their order."""
    return [
        metric([name for name in names if metric.computes(name)], options)
        for metric in dict.fromkeys(METRICS[name] for name in names)
    ]


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
