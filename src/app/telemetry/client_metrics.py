"""Client-side metrics: every SQL statement (a `Connection` subclass) and every Redis command we send."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Coroutine
from typing import Any, TypeVar

import asyncpg
from redis.exceptions import RedisError

from app.telemetry.metrics import queries_run, query_durations, query_errors, redis_durations, redis_errors

T = TypeVar("T")

OPERATIONS = frozenset({"SELECT", "INSERT", "UPDATE", "DELETE", "WITH", "BEGIN", "COMMIT", "ROLLBACK", "SET",
                        "CREATE", "ALTER", "DROP", "LOCK", "COPY", "SAVEPOINT", "RELEASE"})


def query_operation(query: str) -> str:
    """The statement's leading keyword as a bounded label (`OTHER` for anything unusual)."""
    words = query.lstrip().split(None, 1)
    keyword = words[0].rstrip(";").upper() if words else ""
    return keyword if keyword in OPERATIONS else "OTHER"


def record_query(query: str, seconds: float, failed: bool) -> None:
    """Count and time one statement under its operation."""
    operation = query_operation(query)
    queries_run.inc(operation)
    query_durations.observe((operation,), seconds)
    if failed:
        query_errors.inc(operation)


class TimedConnection(asyncpg.Connection):
    """An asyncpg connection that counts and times every statement (the pool's `connection_class`).

    Instead of asyncpg's query logger, which builds a record and schedules a callback per
    statement (bench/README.md has the figures). Every statement passes
    through `_execute`, except `execute` without arguments (simple protocol: BEGIN, COMMIT, the
    pool's reset, which is housekeeping and not counted).
    """

    def execute(self, query: str, *args: Any, timeout: float | None = None) -> Coroutine[Any, Any, str]:
        """Run `query`; a simple-protocol one is timed here, a parametrised one in `_execute`.

        A plain function returning the awaitable, not a coroutine: the untimed calls (the pool's
        reset on every release, parametrised statements) then add no frame to the request's await
        chain, which every suspension and resumption walks.
        """
        if args or query == self.get_reset_query():
            return super().execute(query, *args, timeout=timeout)
        return self._timed_simple(query, timeout)

    async def _timed_simple(self, query: str, timeout: float | None) -> str:  # noqa: ASYNC109
        started, failed = time.perf_counter(), True
        try:
            status: str = await super().execute(query, timeout=timeout)
            failed = False
            return status
        finally:
            record_query(query, time.perf_counter() - started, failed)

    async def _execute(self, query: str, args: Any, limit: int, timeout: float | None, **options: Any) -> Any:  # noqa: ASYNC109
        started, failed = time.perf_counter(), True
        try:
            result = await super()._execute(query, args, limit, timeout, **options)  # type: ignore[misc]
            failed = False
            return result
        finally:
            record_query(query, time.perf_counter() - started, failed)


async def timed_redis(command: str, awaitable: Awaitable[T]) -> T:
    """Await one Redis command, timing it and counting its failure under `command`."""
    started = time.perf_counter()
    try:
        return await awaitable
    except RedisError:
        redis_errors.inc(command)
        raise
    finally:
        redis_durations.observe((command,), time.perf_counter() - started)


