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
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor

from liftoff.evaluation.metrics.base import Corpus, Metric, Row
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
    metrics: list[Metric], corpus: Corpus, options: ScoreOptions
) -> list[list[Row]]:
    """Per-metric rows, computed in worker processes where that is safe and worth it."""
    workers = options.worker_count(len(corpus), _usable_cpus())
    if workers > 1 and not _can_fork():
        workers = 1
    if workers == 1:
        return _chunk_statistics(metrics, corpus)
    chunks = workers * _CHUNKS_PER_WORKER
    bounds = [len(corpus) * k // chunks for k in range(chunks + 1)]
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        parts = pool.map(
            _chunk_statistics,
            [metrics] * chunks,
            [corpus.part(a, b) for a, b in itertools.pairwise(bounds)],
        )
        rows: list[list[Row]] = [[] for _ in metrics]
        for part in parts:
            for collected, metric_rows in zip(rows, part, strict=True):
                collected.extend(metric_rows)
    return rows


def _chunk_statistics(metrics: list[Metric], corpus: Corpus) -> list[list[Row]]:
    with gc_paused():
        return [metric.statistics(corpus) for metric in metrics]


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
