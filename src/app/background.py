"""Background tasks that stop when asked, instead of being cancelled in the middle of their work.

Cancelling a task during a database transaction can interrupt a query; asyncpg then refuses the
rollback ("another operation is in progress"), the connection is never released, and closing the
pool waits for it forever. So long-running tasks loop until a stop event is set, and sleep on it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from loguru import logger


async def pause(stop: asyncio.Event, seconds: float) -> None:
    """Sleep for `seconds`, or less if `stop` is set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def stop_task(task: asyncio.Task[None], stop: asyncio.Event, grace_seconds: float) -> bool:
    """Set `stop` and let `task` finish its work in flight; cancel it only past `grace_seconds`.

    Returns whether the task stopped by itself.
    """
    stop.set()
    try:
        await asyncio.wait_for(asyncio.shield(task), grace_seconds)
    except TimeoutError:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return False
    return True


@contextlib.asynccontextmanager
async def running(loop: Callable[[asyncio.Event], Coroutine[Any, Any, None]], name: str,
                  grace_seconds: float) -> AsyncIterator[None]:
    """Run `loop(stop)` as a task named `name` while the block runs, then stop it with `stop_task`."""
    stop = asyncio.Event()
    task = asyncio.create_task(loop(stop), name=name)
    try:
        yield
    finally:
        if not await stop_task(task, stop, grace_seconds):
            logger.warning("{} did not stop within {} s; cancelled", name, grace_seconds)
