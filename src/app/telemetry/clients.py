"""Client-side metrics: every SQL statement (asyncpg's query logger) and every Redis command we send."""

from __future__ import annotations

import time
from collections.abc import Awaitable
from typing import TypeVar

import asyncpg
from asyncpg.connection import LoggedQuery
from redis.exceptions import RedisError

from app.telemetry.metrics import DB_QUERIES, DB_QUERY_DURATION, DB_QUERY_ERRORS, REDIS_DURATION, REDIS_ERRORS

T = TypeVar("T")

OPERATIONS = frozenset({"SELECT", "INSERT", "UPDATE", "DELETE", "WITH", "BEGIN", "COMMIT", "ROLLBACK", "SET",
                        "CREATE", "ALTER", "DROP", "LOCK", "COPY", "SAVEPOINT", "RELEASE"})


def query_operation(query: str) -> str:
    """The statement's leading keyword as a bounded label (`OTHER` for anything unusual)."""
    words = query.lstrip().split(None, 1)
    keyword = words[0].rstrip(";").upper() if words else ""
    return keyword if keyword in OPERATIONS else "OTHER"


def _record_query(reset_query: str, record: LoggedQuery) -> None:
    if record.query == reset_query:  # the pool's own clean-up on release, not the application's work
        return
    operation = query_operation(record.query)
    DB_QUERIES.labels(operation).inc()
    DB_QUERY_DURATION.labels(operation).observe(record.elapsed)
    if record.exception is not None:
        DB_QUERY_ERRORS.labels(operation).inc()


async def watch_queries(connection: asyncpg.Connection) -> None:
    """Pool `init` hook: time and count every statement of this connection.

    asyncpg's query logger runs the callback on the next loop turn, off the request's own path.
    """
    reset_query = connection.get_reset_query()
    connection.add_query_logger(lambda record: _record_query(reset_query, record))


async def timed_redis(command: str, awaitable: Awaitable[T]) -> T:
    """Await one Redis command, timing it and counting its failure under `command`."""
    started = time.perf_counter()
    try:
        return await awaitable
    except RedisError:
        REDIS_ERRORS.labels(command).inc()
        raise
    finally:
        REDIS_DURATION.labels(command).observe(time.perf_counter() - started)


