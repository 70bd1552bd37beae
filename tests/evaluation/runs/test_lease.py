"""Holding a run (``held``) and the executor under leases, on SQLite and a real Postgres: the
holder renews, gives up, stops in time when it cannot renew, stops when it was taken over
(a process frozen past its lease), and an executor never works on a run another holds."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor

import psycopg
import pytest

from liftoff.evaluation.metrics import Score
from liftoff.evaluation.runs.errors import LeaseLost, RunBusy
from liftoff.evaluation.runs.executor import RunExecutor, ScoringJob
from liftoff.evaluation.runs.lease import held, new_owner
from liftoff.evaluation.runs.model import Generation
from liftoff.evaluation.runs.store import Lease, RunStore
from liftoff.evaluation.runs.target import Target
from tests.evaluation.conftest import Opener
from tests.evaluation.runs.stored import SPEC, examples, score_here

B = Lease("host-b:12:bbbb", 30)


@contextlib.contextmanager
def store_locked(location: str) -> Iterator[None]:
    """The store takes no write while the block runs: another connection holds its lock (as a
    long migration or a stuck session would)."""
    if location.startswith("postgresql://"):
        with psycopg.connect(location) as db:  # a transaction, open until the rollback
            db.execute("LOCK TABLE eval_runs IN ACCESS EXCLUSIVE MODE")
            yield
            db.rollback()
        return
    db = sqlite3.connect(location, isolation_level=None)
    db.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        db.execute("ROLLBACK")
        db.close()


def take_over_later(opener: Opener, run_id: str, after: float) -> Future[bool]:
    """Another process (a thread with its own loop and connections) takes the run's lease
    ``after`` seconds from now; the future says whether it got it."""

    async def take() -> bool:
        other = await opener()
        try:
            await asyncio.sleep(max(0.0, deadline - time.monotonic()))
            return await other.acquire(run_id, B)
        finally:
            await other.close()

    deadline = time.monotonic() + after
    pool = ThreadPoolExecutor(1)
    future = pool.submit(asyncio.run, take())
    pool.shutdown(wait=False)
    return future


async def test_the_holder_renews_its_lease_for_as_long_as_it_works_and_then_gives_it_up(
    store: RunStore, opener: Opener
) -> None:
    run = await store.create_run(SPEC, examples([["a"]]), origin="service")
    other = await opener()
    try:
        async with held(store, run.id, Lease(new_owner(), 0.6)):
            for _ in range(4):  # three times the lease's length
                await asyncio.sleep(0.45)
                assert not await other.acquire(run.id, B)
                assert await other.unowned_runs("service") == []
            with pytest.raises(RunBusy, match=f"run {run.id} is being worked on by another"):
                async with held(other, run.id, B):
                    pytest.fail("two holders at once")
        assert await other.acquire(run.id, B)  # given up at once, not after the lease lapsed
    finally:
        await other.close()


async def test_a_holder_that_cannot_renew_stops_before_its_lease_can_lapse(
    store: RunStore, location: str
) -> None:
    run = await store.create_run(SPEC, examples([["a"]]), origin="service")
    seconds = 1.2
    started = time.monotonic()
    with pytest.raises(LeaseLost, match=f"the store did not answer for {seconds:g} s"):
        async with held(store, run.id, Lease(new_owner(), seconds)):
            with store_locked(location):
                await asyncio.sleep(10)  # the work, cancelled when the lease may be gone
    assert time.monotonic() - started < seconds  # stopped while the lease still held


async def test_a_holder_frozen_past_its_lease_finds_the_run_taken_and_stops(
    store: RunStore, opener: Opener
) -> None:
    run = await store.create_run(SPEC, examples([["a"]]), origin="service")
    taken = take_over_later(opener, run.id, after=2.5)
    with pytest.raises(LeaseLost, match="another process took the run over"):
        async with held(store, run.id, Lease(new_owner(), 1.5)):
            time.sleep(4)  # frozen (a stalled VM, a debugger): no renewal, no loop
            await asyncio.sleep(10)  # the keeper wakes, finds B's lease, cancels this
    assert taken.result(timeout=10) is True


async def test_an_executor_never_starts_a_run_another_process_holds(
    store: RunStore,
) -> None:
    first = RunExecutor(store, score_here)
    run = await store.create_run(SPEC, examples([["a"]]), origin="service", lease=first.lease)
    second = RunExecutor(store, score_here)
    async with Target("http://127.0.0.1:9/v1", api_key=None, retries=0, timeout=5,
                      probe_timeout=5) as target:  # fmt: skip
        for step in (second.execute(run.id, target), second.generate(run.id, target),
                     second.score(run.id)):  # fmt: skip
            with pytest.raises(RunBusy):
                await step
    after = await store.get_run(run.id)
    assert (after.status, after.progress.pending) == ("queued", 1)


async def test_an_executor_taken_over_while_scoring_writes_nothing_and_the_new_owner_finishes(
    store: RunStore, opener: Opener
) -> None:
    run = await store.create_run(SPEC, examples([["a b c"]]), origin="service")
    await store.record_output(run.id, "ex0", Generation(prediction="a b c", latency_s=0.1))
    scored = threading.Event()

    async def frozen_scorer(job: ScoringJob) -> Mapping[str, Score]:
        time.sleep(4)  # the whole process stalls past its lease while scoring
        scored.set()
        return await score_here(job)

    stalled = RunExecutor(store, frozen_scorer, lease=Lease(new_owner(), 1.5))
    taken = take_over_later(opener, run.id, after=2.5)
    with pytest.raises(LeaseLost):
        await stalled.score(run.id)
    assert scored.is_set() and taken.result(timeout=10) is True
    left = await store.get_run(run.id)
    assert (left.status, left.corpus, left.error) == ("queued", None, None)  # not "failed"

    finished = await RunExecutor(store, score_here, lease=B).score(run.id)
    assert finished.status == "completed" and finished.corpus is not None
