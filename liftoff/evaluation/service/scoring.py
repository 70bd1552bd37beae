"""Scoring off the event loop: a pool of worker processes, each with WordNet loaded once.

Scoring is CPU-bound Python (10,000 pairs take tens of seconds with every metric); in a
worker process it neither blocks the event loop nor competes with it for the GIL. Workers
start with ``spawn`` (forking a process that runs threads is unsafe) and warm up METEOR
when the service starts; readiness waits for that. Requests beyond the pool's size queue.

Work nobody waits for any more is stopped: a job whose caller is cancelled (its client
left) or whose time is up (``timeout``, queueing included) is taken out of the queue, or,
when it is running, its worker process is terminated and replaced (pebble's ``ProcessPool``
does this; the standard library's pool cannot stop a running job). The next job then gets
the worker at once instead of after minutes of work for nobody.
Workers exit on their own as soon as the service process dies, however it dies (SIGKILL,
out of memory): a worker never outlives its service (``exit_with_parent``).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any, TypeVar

import pebble

from liftoff.evaluation.errors import InvalidInput
from liftoff.evaluation.metrics import Corpus, ScoreOptions, canonical_metrics, score
from liftoff.evaluation.metrics.inputs import check_corpus, needed_inputs
from liftoff.evaluation.reports.scores import scores_json
from liftoff.evaluation.service.errors import ScoringTimeout, ScoringUnavailable
from liftoff.evaluation.service.schemas import ScoreRequest
from liftoff.server.processes import exit_with_parent

logger = logging.getLogger(__name__)

T = TypeVar("T")


def warm_up() -> str:
    """Load WordNet and METEOR's caches in this worker; raises ``WordNetUnavailable``."""
    from liftoff.evaluation.wordnet import WORDNET_VERSION

    score(["warm up"], [["warm up"]], ["meteor"], {"bootstrap": {"resamples": 0}, "workers": 1})
    return WORDNET_VERSION


def score_to_json(predictions: Sequence[str], corpus: Corpus, metrics: Sequence[str],
                  options: ScoreOptions) -> bytes:  # fmt: skip
    """``POST /v1/scores``'s answer, encoded in the worker (large answers cost the loop nothing)."""
    return scores_json(
        score(predictions, corpus.references, metrics, options, corpus.retrieved, corpus.passages)
    )


class ScoringPool:
    """``workers`` scoring processes; :meth:`run` hands them work, :meth:`close` stops them."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool = pebble.ProcessPool(
            max_workers=workers,
            initializer=exit_with_parent,
            context=multiprocessing.get_context("spawn"),
        )
        self._warm: Future[str] | None = None

    def start(self) -> None:
        """Begin warming a worker up (WordNet takes a few seconds to load)."""
        self._warm = self._pool.schedule(warm_up)

    def readiness(self) -> str | None:
        """None when a worker has WordNet loaded, else why not (yet)."""
        if self._warm is None or not self._warm.done():
            return "scoring workers are loading WordNet"
        error = self._warm.exception()
        if error is not None:
            return f"scoring is unavailable: {error}"
        return None

    async def run(self, function: Callable[..., T], *args: Any, timeout: float | None = None) -> T:
        """``function(*args)`` in a worker process, within ``timeout`` seconds from now
        (raises ``ScoringTimeout``). Cancelling the caller stops the work (see the module)."""
        future = self._pool.schedule(function, args=args)
        try:
            async with asyncio.timeout(timeout):
                # Cancelling the wrapper cancels the pebble future: the worker is replaced.
                return await asyncio.wrap_future(future)
        except TimeoutError as exc:  # the timeout cancelled the future, as a caller's would
            raise ScoringTimeout(
                f"scoring did not finish within {timeout:g} s (LIFTOFF_EVAL_SCORE_TIMEOUT) and "
                "was stopped: send fewer examples or fewer bootstrap resamples per request"
            ) from exc
        except pebble.ProcessExpired as exc:
            logger.error("a scoring worker died (out of memory?); a new one takes its place")
            raise ScoringUnavailable(
                "a scoring worker died while scoring (out of memory?); try again, or with fewer "
                "examples per request"
            ) from exc

    def close(self) -> None:
        """Stop at once: queued jobs are cancelled and running workers terminated."""
        self._pool.stop()  # type: ignore[no-untyped-call]
        self._pool.join(timeout=10)


def check_score_request(body: ScoreRequest, *, max_examples: int) -> tuple[Corpus, tuple[str, ...]]:
    """The checked inputs and canonical metric names; raises ``InvalidInput`` before any
    worker is bothered (pydantic has already checked the types), also for an input that no
    metric asked for reads (accepted and unused, it would mislead)."""
    predictions = body.predictions
    if not predictions:
        raise InvalidInput("predictions is empty: nothing to score", param="predictions")
    if len(predictions) > max_examples:
        raise InvalidInput(
            f"{len(predictions)} predictions is over this service's limit of {max_examples} "
            "per request; split the request",
            param="predictions",
        )
    names = canonical_metrics(body.metrics)
    needed = needed_inputs(names)
    for field in ("references", "retrieved", "passages"):
        if getattr(body, field) is not None and field not in needed:
            raise InvalidInput(
                f"{field} is given, but none of the metrics asked for ({', '.join(names)}) "
                f"reads it: {_READERS[field]}",
                param=field,
            )
    corpus = check_corpus(
        predictions, names, references=body.references, retrieved=body.retrieved,
        passages=body.passages,
    )  # fmt: skip
    return corpus, names


_READERS = {
    "references": "bleu, chrf, ter, rouge1, rouge2, rougeL, rougeLsum and meteor do",
    "retrieved": "hit_rate@K, mrr@K, hit_rate and mrr do",
    "passages": "hit_rate@K, mrr@K, hit_rate, mrr, abstention and false_abstention do",
}
