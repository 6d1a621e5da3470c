"""A circuit breaker around PostgreSQL (R1): a request waits at most a budget for a database that is gone.

Closed (the normal state), every unit of database work runs under a watchdog. A unit still running
`budget - probe_timeout` seconds after it began makes the circuit *probe*: a fresh connection and
`SELECT 1`, within `probe_timeout`. If the probe succeeds, the database is only slow and the unit
goes on (bounded by the statement timeout as before); if it fails, the circuit opens and the unit
is interrupted, so its caller answers 503 no later than `budget` seconds after it began. A
connection-level error (refused, reset, timed out) starts a probe too, so a database that is down
opens the circuit within milliseconds of the first failure.

Open, every unit is refused at once (`DatabaseUnreachable`, a 503), and a background task probes
every `interval` seconds; the first probe that succeeds closes the circuit. One probe runs at a
time, shared by everyone who asked for it, so a thousand stuck requests cost one connection
attempt. A probe that just succeeded is believed for `interval` seconds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress

import asyncpg
from loguru import logger

from app.errors import ServiceUnavailable

UNREACHABLE_DETAIL = "PostgreSQL is unreachable; the service cannot serve this request now. Retry shortly."

CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    asyncpg.CannotConnectNowError,
    asyncpg.exceptions.OperatorInterventionError,
)
"""Errors that may mean the database itself is gone (a probe tells whether it is)."""


class DatabaseUnreachable(ServiceUnavailable):
    """PostgreSQL does not answer: refused at once while the circuit is open, or interrupted after the budget."""

    headers = {"Retry-After": "1"}  # noqa: RUF012  (a class-level constant shared by every instance)

    def __init__(self, detail: str = UNREACHABLE_DETAIL) -> None:
        super().__init__(detail)


class Circuit:
    """Whether PostgreSQL is reachable, as this process last saw it; see the module's docstring."""

    def __init__(self, probe: Callable[[float], Awaitable[None]], *, budget: float = 2.0,
                 interval: float = 0.5) -> None:
        self._probe_fn = probe
        self.budget = budget
        self.interval = interval
        self.probe_timeout = budget / 3
        self.is_open = False
        self.probes = 0
        """Probes run so far (for tests and logs)."""
        self._probe: asyncio.Task[bool] | None = None
        self._recovery: asyncio.Task[None] | None = None
        self._believed_until = 0.0

    def configure(self, *, budget: float, interval: float) -> None:
        """Set the budget (seconds a unit may wait for an unreachable database) and the probe interval."""
        self.budget = budget
        self.interval = interval
        self.probe_timeout = budget / 3

    def refuse_if_open(self) -> None:
        """Raise DatabaseUnreachable at once while the database is known unreachable."""
        if self.is_open:
            raise DatabaseUnreachable

    async def reachable(self) -> bool:
        """Whether the database answers a probe now (one probe shared by concurrent callers)."""
        if self.is_open:
            return False
        if time.monotonic() < self._believed_until:
            return True
        if self._probe is None or self._probe.done():
            self._probe = asyncio.get_running_loop().create_task(self._probe_once())
        return await asyncio.shield(self._probe)

    def suspect(self) -> None:
        """Something failed in a way that may mean the database is gone: probe in the background."""
        if self.is_open or time.monotonic() < self._believed_until:
            return
        with suppress(RuntimeError):  # no running loop: nothing to probe from
            task = asyncio.get_running_loop().create_task(self.reachable())
            task.add_done_callback(_ignore_result)

    @asynccontextmanager
    async def guard(self) -> AsyncIterator[None]:
        """Run the block as one unit of database work: refused while open, interrupted past the budget if unreachable.

        The block's own errors pass through unchanged, except the interruption, which becomes
        DatabaseUnreachable. Whoever holds a connection in the block must drop it (not roll back)
        when interrupted: see `interrupted`.
        """
        self.refuse_if_open()
        loop = asyncio.get_running_loop()
        watch = _Watch()
        try:
            async with asyncio.timeout(None) as deadline:
                watch.handle = loop.call_later(max(self.budget - self.probe_timeout, 0.0), self._watch, deadline, watch)
                try:
                    yield
                finally:
                    watch.finish()
        except TimeoutError as exc:
            if watch.fired:
                raise DatabaseUnreachable from exc
            self.suspect()
            raise
        except CONNECTION_ERRORS:
            self.suspect()
            raise

    def _watch(self, deadline: asyncio.Timeout, watch: _Watch) -> None:
        async def decide() -> None:
            if not await self.reachable() and watch.running:
                watch.fired = True
                deadline.reschedule(asyncio.get_running_loop().time())

        watch.task = asyncio.get_running_loop().create_task(decide())

    async def _probe_once(self) -> bool:
        self.probes += 1
        try:
            await asyncio.wait_for(self._probe_fn(self.probe_timeout), self.probe_timeout)
        except Exception as exc:  # any failure of the probe means: not reachable now
            self._open(exc)
            return False
        self._believed_until = time.monotonic() + self.interval
        return True

    def _open(self, cause: BaseException) -> None:
        if not self.is_open:
            logger.warning("PostgreSQL is unreachable ({}); refusing database work until a probe succeeds",
                           type(cause).__name__)
        self.is_open = True
        if self._recovery is None or self._recovery.done():
            self._recovery = asyncio.get_running_loop().create_task(self._recover())

    async def _recover(self) -> None:
        while self.is_open:
            await asyncio.sleep(self.interval)
            self.probes += 1
            try:
                await asyncio.wait_for(self._probe_fn(self.probe_timeout), self.probe_timeout)
            except Exception as exc:  # still unreachable: try again after the interval
                logger.debug("PostgreSQL probe failed: {}", type(exc).__name__)
                continue
            self.is_open = False
            self._believed_until = time.monotonic() + self.interval
            logger.info("PostgreSQL answers again; database work resumes")

    async def close(self) -> None:
        """Stop the background probes (at pool stop); the circuit is closed again."""
        for task in (self._recovery, self._probe):
            if task is not None and not task.done():
                task.cancel()
                with suppress(asyncio.CancelledError, Exception):
                    await task
        self._recovery = self._probe = None
        self.is_open = False
        self._believed_until = 0.0


class _Watch:
    """The watchdog of one guarded unit: its timer, its probe task, whether it interrupted the unit."""

    __slots__ = ("fired", "handle", "running", "task")

    def __init__(self) -> None:
        self.fired = False
        self.running = True
        self.handle: asyncio.TimerHandle | None = None
        self.task: asyncio.Task[None] | None = None

    def finish(self) -> None:
        self.running = False
        if self.handle is not None:
            self.handle.cancel()
        if self.task is not None and not self.task.done():
            self.task.cancel()


def _ignore_result(task: asyncio.Task[bool]) -> None:
    if not task.cancelled():
        task.exception()


def interrupted(exc: BaseException | None) -> bool:
    """Whether `exc` left a connection mid-statement (cancelled, timed out, or broken): drop it, never reuse it."""
    return isinstance(exc, (asyncio.CancelledError, *CONNECTION_ERRORS))
