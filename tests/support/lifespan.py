"""The in-process app's start-up, in the order `app run` does it: shared schema first, then the lifespan."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar

from app.db import start_pool, stop_pool
from app.settings import Settings
from app.tenants.fleet.schema import migrate_shared


async def migrate_shared_schema(settings: Settings) -> None:
    """Create or migrate the shared `cobreja` schema on a pool of its own, as `app run`'s preflight does.

    The app must never start before it exists: its invalidation listener drains the token outbox
    (a table of that schema) as soon as it starts.
    """
    await start_pool(settings)
    try:
        await migrate_shared()
    finally:
        await stop_pool()


@asynccontextmanager
async def running_lifespan(app: Litestar) -> AsyncIterator[None]:
    """Run the app's lifespan in a task of its own (anyio scopes must exit in the task they began in)."""
    started, stop = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        async with app.lifespan():
            started.set()
            await stop.wait()

    task = asyncio.create_task(hold())
    waiter = asyncio.create_task(started.wait())
    await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        waiter.cancel()
        task.result()  # start-up failed: raise its error
    try:
        yield
    finally:
        stop.set()
        await task
