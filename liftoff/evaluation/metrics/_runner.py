"""Computing every metric's rows: in this process, or in forked worker processes.

Rows are pure functions of each example, so splitting the examples into chunks never changes
a score. Workers are forked (POSIX, caller without other threads): they inherit the loaded
WordNet and the tokenizer caches instead of rebuilding them.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import multiprocessing
import os
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor

from liftoff.evaluation.metrics.base import Metric, References, Row
from liftoff.evaluation.metrics.options import ScoreOptions

_CHUNKS_PER_WORKER = 4


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while scoring.

    Scoring allocates millions of short-lived, acyclic objects, which trigger full collections
    that each walk WordNet's half a million index objects: a fifth of the run time. Reference
    counting still frees everything; the collector resumes (if it was on) afterwards.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def segment_statistics(
    metrics: list[Metric], predictions: list[str], references: References, options: ScoreOptions
) -> list[list[Row]]:
    """Per-metric rows, computed in worker processes where that is safe and worth it."""
    workers = options.worker_count(len(predictions), _usable_cpus())
    if workers > 1 and not _can_fork():
        workers = 1
    if workers == 1:
        return _chunk_statistics(metrics, predictions, references)
    chunks = workers * _CHUNKS_PER_WORKER
    bounds = [len(predictions) * k // chunks for k in range(chunks + 1)]
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        parts = pool.map(
            _chunk_statistics,
            [metrics] * chunks,
            [predictions[a:b] for a, b in itertools.pairwise(bounds)],
            [references[a:b] for a, b in itertools.pairwise(bounds)],
        )
        rows: list[list[Row]] = [[] for _ in metrics]
        for part in parts:
            for collected, metric_rows in zip(rows, part, strict=True):
                collected.extend(metric_rows)
    return rows


def _chunk_statistics(
    metrics: list[Metric], predictions: Sequence[str], references: References
) -> list[list[Row]]:
    with gc_paused():
        return [metric.segment_statistics(predictions, references) for metric in metrics]


def _usable_cpus() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _can_fork() -> bool:
    """Forking copies loaded WordNet and caches for free, but is unsafe with other threads."""
    return (
        "fork" in multiprocessing.get_all_start_methods()
        and threading.active_count() == 1
        and multiprocessing.parent_process() is None
    )
