"""Work that stops when its client leaves.

A route that answers once its work is done (a non-streaming generation, embeddings, a
scoring request) would otherwise finish that work for nobody: the ASGI server only tells
the app that the client left through ``receive()``, which a route that has read its body
never calls again. :func:`unless_disconnected` awaits the work and the client's
``http.disconnect`` together, cancels the work when the client goes first and raises
:class:`~liftoff.server.errors.ClientClosedRequest` (logged as 499)::

    result = await unless_disconnected(request, pool.run(score, ...))

The work must let go of what it holds when cancelled (a worker process, a generation
slot); what it spent until then is whatever its ``finally`` blocks record.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from starlette.requests import Request
from starlette.types import Receive

from liftoff.server.errors import ClientClosedRequest

T = TypeVar("T")


async def unless_disconnected(request: Request, work: Awaitable[T]) -> T:
    """``await work``, cancelled (then :class:`ClientClosedRequest`) if the client leaves
    first. Call it once the request body has been read."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_until_disconnected(request.receive))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        task.cancel()
        raise
    finally:
        watcher.cancel()
    if not task.done():
        task.cancel()
        # Wait for the work to let go of what it holds before the request ends.
        await asyncio.gather(task, return_exceptions=True)
        raise ClientClosedRequest("the client closed the connection; its work was stopped")
    return task.result()


async def _until_disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass  # a body the route did not read: keep waiting for the end
