"""One computation for every concurrent caller, and a result kept while it is fresh.

Operators, dashboards and load balancers call the same expensive reports at once (`/health/detailed`
scans every tenant's migrations; the dashboard's document reads Redis and PostgreSQL). `Shared`
runs the computation once for all callers that arrive while it runs, so the cost does not grow
with the number of callers. With `serve_stale`, a caller arriving after the result went stale
gets the stale result at once while one refresh runs in the background: no caller waits for
a slow computation except the very first.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from loguru import logger

T = TypeVar("T")


class Shared(Generic[T]):
    """`compute()` shared by concurrent callers and kept `fresh_seconds`."""

    def __init__(self, compute: Callable[[], Awaitable[T]], fresh_seconds: float, serve_stale: bool = False) -> None:
        self.compute = compute
        self.fresh_seconds = fresh_seconds
        self.serve_stale = serve_stale
        self.computations = 0
        """How often `compute` ran (a figure for tests and logs, not for control)."""
        self._result: tuple[float, T] | None = None
        self._running: asyncio.Task[T] | None = None

    async def get(self) -> T:
        """The fresh result, the one being computed, or (with `serve_stale`) the last one while refreshing."""
        if self._result is not None:
            computed, value = self._result
            if time.monotonic() - computed < self.fresh_seconds:
                return value
            if self.serve_stale:
                self._start()
                return value
        # shield: a caller that gives up (client gone) must not cancel the computation for the others
        return await asyncio.shield(self._start())

    def _start(self) -> asyncio.Task[T]:
        if self._running is None:
            self._running = asyncio.create_task(self._run(), name="shared computation")
            self._running.add_done_callback(_retrieve)
        return self._running

    async def _run(self) -> T:
        try:
            self.computations += 1
            value = await self.compute()
            self._result = (time.monotonic(), value)
            return value
        except Exception as exc:
            logger.debug("shared computation failed: {}", type(exc).__name__)
            raise
        finally:
            self._running = None


def _retrieve(task: asyncio.Task[T]) -> None:
    """Take a finished task's exception, so one nobody awaited (a background refresh) is not reported as lost."""
    if not task.cancelled():
        task.exception()
