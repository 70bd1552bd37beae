"""Holding a run while working on it: one owner per run, across processes and replicas.

    async with held(store, run_id, lease):       # RunBusy: another live process has it
        ...generate, score...                    # LeaseLost: it was taken over meanwhile

A lease is a row in the store (``RunStore.acquire``): who owns the run and until when. The
holder renews it every third of its length; a process that dies stops renewing, and once
its lease has lapsed another process may take the run (``RunStore.unowned_runs``). The usual
pattern of lock services (Chubby's and etcd's leases, Kubernetes' ``Lease`` objects), kept in
the run store itself, so SQLite and Postgres need nothing beside them.

A holder that cannot renew in time (the store unreachable for the whole lease, the process
frozen) must assume the run was taken: the block is cancelled and raises ``LeaseLost``.
Writes are fenced too (a write naming its owner fails once another holds the run), so even a
holder that wakes up late writes nothing twice; at most the requests it had in flight were
sent twice.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from types import TracebackType

from liftoff.evaluation.runs.errors import LeaseLost, RunBusy
from liftoff.evaluation.runs.store import Lease, RunStore

logger = logging.getLogger(__name__)

DEFAULT_SECONDS = 30.0


def new_owner() -> str:
    """A name unique to this process and call: host, process id and a random part (a
    restarted container reuses its host name and often its pid)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class held:  # lower case: used like a function, as asyncio.timeout is
    """Hold ``run_id``'s lease while the ``async with`` block runs; see the module docstring.

    Entering raises :class:`RunBusy` when another owner's lease is live. Leaving gives the
    lease up, unless it was lost: then the block's cancellation becomes :class:`LeaseLost`.
    """

    def __init__(self, store: RunStore, run_id: str, lease: Lease) -> None:
        self.store = store
        self.run_id = run_id
        self.lease = lease
        self._task: asyncio.Task[object] | None = None
        self._keeper: asyncio.Task[None] | None = None
        self._lost: str | None = None
        self._closing = False

    async def __aenter__(self) -> held:
        started = time.monotonic()
        if not await self.store.acquire(self.run_id, self.lease):
            raise RunBusy(self.run_id, self.lease.seconds)
        self._task = asyncio.current_task()
        self._keeper = asyncio.create_task(self._keep(started), name=f"lease of run {self.run_id}")
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # From here on the keeper must not cancel this task: cancelling it is not enough (a
        # renewal already answered may still come back, as psycopg finishes a query it was
        # told to abandon), so it is also told that the block is over.
        self._closing = True
        keeper = self._keeper
        if keeper is not None:
            keeper.cancel()
        if self._lost is not None:
            # The keeper cancelled this task: that cancellation, and only that one, becomes
            # LeaseLost (as asyncio.timeout turns its own into TimeoutError).
            # Another error raised meanwhile goes on as it is.
            restored = self._task is None or self._task.uncancel() == 0
            if restored and kind in (None, asyncio.CancelledError):
                raise LeaseLost(self.run_id, self._lost) from None
            return
        if keeper is not None:
            await asyncio.gather(keeper, return_exceptions=True)  # no renewal after the release
        if isinstance(error, LeaseLost):  # a fenced write found another owner: not ours to free
            return
        try:
            await self.store.release(self.run_id, self.lease.owner)
        except Exception as exc:  # it lapses by itself; the next holder waits that long
            logger.warning("run %s: could not give its lease up: %s", self.run_id, exc,
                           extra={"run_id": self.run_id})  # fmt: skip

    async def _keep(self, renewed: float) -> None:
        """Renew every third of the lease; cancel the holder once the lease may be gone.

        ``renewed`` is when the last successful renewal was *sent* (the lease lasts at least
        from then). A renewal that fails is retried every second until a sixth of the lease
        is left; then the holder stops, before another process can take the run. A keeper
        that wakes up long after it meant to (the process was frozen) asks anyway, allowing
        the store a third of the lease to answer: the lease may be gone, or may not."""
        every = self.lease.seconds / 3
        give_up = renewed + self.lease.seconds - every / 2
        next_try = renewed + every
        while True:
            await asyncio.sleep(max(0.0, next_try - time.monotonic()))
            attempt = time.monotonic()
            late = attempt - next_try > every / 2
            try:
                async with asyncio.timeout(max(give_up - attempt, every if late else 0.01)):
                    taken = await self.store.acquire(self.run_id, self.lease)
            except Exception as exc:  # TimeoutError included
                if self._closing:
                    return
                if time.monotonic() >= give_up:
                    return self._lose(f"the store did not answer for {self.lease.seconds:g} s")
                logger.warning(
                    "run %s: could not renew its lease: %s", self.run_id,
                    exc or type(exc).__name__, extra={"run_id": self.run_id},
                )  # fmt: skip
                next_try = min(time.monotonic() + 1.0, give_up)
                continue
            if not taken:
                return self._lose("another process took the run over")
            give_up = attempt + self.lease.seconds - every / 2
            next_try = attempt + every

    def _lose(self, why: str) -> None:
        if self._closing:  # the block has ended: nothing left to stop
            return
        self._lost = why
        logger.warning("run %s: lease lost (%s); stopping work on it here", self.run_id, why,
                       extra={"run_id": self.run_id})  # fmt: skip
        if self._task is not None:
            self._task.cancel()
