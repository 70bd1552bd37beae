"""Run leases in both stores: one owner at a time, taken atomically, lapsing when not renewed,
and every write of an owner who lost the run refused (SQLite and a real Postgres)."""

from __future__ import annotations

import asyncio

import pytest

from liftoff.evaluation.runs.errors import LeaseLost, RunNotFound
from liftoff.evaluation.runs.model import CorpusScores, Generation, Run
from liftoff.evaluation.runs.store import Lease, RunStore
from tests.evaluation.conftest import Opener
from tests.evaluation.runs.stored import SPEC, examples

A = Lease("host-a:11:aaaa", 30)
B = Lease("host-b:12:bbbb", 30)
ANSWER = Generation(prediction="out", latency_s=0.1)
SCORES = CorpusScores(corpus={"bleu": 1.0}, signatures={"bleu": "nrefs:1"})


async def test_a_run_created_with_a_lease_is_its_owners_until_given_up(store: RunStore) -> None:
    run = await store.create_run(SPEC, examples([["a"]]), origin="service", lease=A)
    assert await store.unowned_runs("service") == []  # nobody adopts it meanwhile
    assert not await store.acquire(run.id, B)
    assert await store.acquire(run.id, A)  # the owner renews it
    await store.release(run.id, B.owner)  # not B's to give up
    assert not await store.acquire(run.id, B)
    await store.release(run.id, A.owner)
    assert await store.unowned_runs("service") == [run.id]
    assert await store.acquire(run.id, B)
    assert await store.unowned_runs("service") == []


async def test_a_lease_not_renewed_lapses_and_the_old_owner_can_write_nothing(
    store: RunStore,
) -> None:
    run = await store.create_run(SPEC, examples([["a"], ["b"]]), origin="service",
                                 lease=Lease(A.owner, 0.3))  # fmt: skip
    assert not await store.acquire(run.id, B)
    await asyncio.sleep(0.5)  # A is gone: no renewal
    assert await store.unowned_runs("service") == [run.id]
    assert await store.acquire(run.id, B)

    for write in (
        store.record_output(run.id, "ex0", ANSWER, owner=A.owner),
        store.record_failure(run.id, "ex1", "boom", owner=A.owner),
        store.set_status(run.id, "failed", error="A's view", owner=A.owner),
        store.record_scores(run.id, SCORES, {"ex0": {"bleu": 1.0}}, owner=A.owner),
    ):
        with pytest.raises(LeaseLost, match=f"run {run.id}: this process lost its lease"):
            await write
    after = await store.get_run(run.id)
    assert (after.status, after.error, after.corpus, after.progress.pending) == (
        "queued", None, None, 2,
    )  # fmt: skip
    assert not await store.acquire(run.id, A)  # A cannot take it back while B holds it
    await store.release(run.id, A.owner)  # and cannot free it for others
    assert not await store.acquire(run.id, A)

    await store.record_output(run.id, "ex0", ANSWER, owner=B.owner)  # the holder writes
    assert (await store.set_status(run.id, "generating", owner=B.owner)).status == "generating"
    assert (await store.get_run(run.id)).progress.done == 1


async def test_of_many_processes_racing_for_a_run_exactly_one_gets_it(
    store: RunStore, opener: Opener
) -> None:
    runs = [await store.create_run(SPEC, examples([["a"]]), origin="service") for _ in range(5)]
    handles = [await opener() for _ in range(4)]  # each with its own connections
    try:
        for run in runs:
            taken = await asyncio.gather(
                *(h.acquire(run.id, Lease(f"owner-{i}", 30)) for i, h in enumerate(handles))
            )
            assert sum(taken) == 1, taken
    finally:
        for handle in handles:
            await handle.close()
    assert await store.unowned_runs("service") == []


async def test_unowned_runs_are_the_unfinished_runs_of_an_origin_nobody_holds(
    store: RunStore,
) -> None:
    async def create(origin: str = "service", lease: Lease | None = None) -> Run:
        return await store.create_run(SPEC, examples([["a"]]), origin=origin, lease=lease)

    queued, generating, scoring = await create(), await create(), await create()
    await store.set_status(generating.id, "generating")
    await store.set_status(scoring.id, "scoring")
    await store.set_status((await create()).id, "failed")
    await store.set_status((await create()).id, "completed")
    await create(origin="cli")
    await create(lease=A)
    expected = [queued.id, generating.id, scoring.id]
    assert sorted(await store.unowned_runs("service")) == sorted(expected)
    assert await store.unowned_runs("nobody") == []


async def test_the_lease_of_an_unknown_run_cannot_be_taken(store: RunStore) -> None:
    with pytest.raises(RunNotFound):
        await store.acquire("nope", A)
    with pytest.raises(RunNotFound):
        await store.record_output("nope", "ex0", ANSWER, owner=A.owner)
    await store.release("nope", A.owner)  # nothing to give up: nothing happens
