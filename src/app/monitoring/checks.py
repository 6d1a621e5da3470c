"""Health checks (O4): each dependency probed with a deadline, the last results kept."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any, Literal

import asyncpg
import msgspec
from loguru import logger
from redis.asyncio import Redis

from app.db import CIRCUIT, connect_arguments, quote_ident
from app.monitoring.shared import Shared
from app.telemetry import system_usage
from app.tenants.fleet import RunOptions, run_migrations
from app.tenants.naming import SHARED_SCHEMA

CHECK_DEADLINE_SECONDS = 2.0
READY_DEADLINE_SECONDS = 1.5
"""The database check's deadline: /health/ready answers within its 2 s promise, the HTTP round trip included."""
READY_STATEMENT = "SELECT $1::int"
PENDING_CACHE_SECONDS = 30.0
Status = Literal["healthy", "degraded", "unhealthy"]


class CheckResult(msgspec.Struct):
    """One dependency's state: `up` or `down`, and how long the probe took."""

    status: str
    response_time_ms: float
    error: str | None = None


async def _probe(work: Any, deadline: float = CHECK_DEADLINE_SECONDS) -> CheckResult:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(deadline):
            await work()
    except Exception as exc:
        return CheckResult("down", _ms(started), type(exc).__name__)
    return CheckResult("up", _ms(started))


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


class UnexpectedAnswer(RuntimeError):
    """PostgreSQL (or a pooler in front of it) answered the readiness statements wrongly."""


async def check_database() -> CheckResult:
    """The statements the service needs, within READY_DEADLINE_SECONDS (at once `down` while the circuit is open).

    What a tenant request does, twice on one fresh connection: `BEGIN; SET LOCAL search_path`
    in one message, a parametrised (prepared) statement, COMMIT. Between the two, a second
    connection holds a transaction open: behind a transaction pooler it takes the server
    connection the first one just used, so the second round trip runs on another one, and a
    statement cache the pooler does not support (DB_STATEMENT_CACHE_SIZE > 0 behind PgBouncer
    in transaction mode before 1.21) fails here as it would fail requests. Fresh connections,
    not the pool's: a busy pool does not make the service look unready, and a hung one is left alone.
    """
    if CIRCUIT.is_open:
        return CheckResult("down", 0.0, "DatabaseUnreachable")
    result = await _probe(_statement_round_trips, READY_DEADLINE_SECONDS)
    if result.status != "up":
        CIRCUIT.suspect()
    return result


async def _statement_round_trips() -> None:
    connections: list[asyncpg.Connection] = []
    try:
        connections.append(await asyncpg.connect(**connect_arguments()))
        for attempt in range(2):
            await _tenant_like_transaction(connections[0], attempt)
            if attempt == 0:
                connections.append(await asyncpg.connect(**connect_arguments()))
                await connections[1].execute("BEGIN")
        await connections[1].execute("ROLLBACK")
        for connection in connections:
            await connection.close(timeout=READY_DEADLINE_SECONDS)
    finally:
        for connection in connections:
            if not connection.is_closed():
                connection.terminate()


async def _tenant_like_transaction(connection: asyncpg.Connection, attempt: int) -> None:
    await connection.execute(f"BEGIN; SET LOCAL search_path TO {quote_ident(SHARED_SCHEMA)}")
    value = await connection.fetchval(READY_STATEMENT, attempt)
    search_path = await connection.fetchval("SELECT current_setting('search_path')")
    await connection.execute("COMMIT")
    if value != attempt or search_path.strip('"') != SHARED_SCHEMA:
        raise UnexpectedAnswer(f"got {value!r} under search_path {search_path!r}")


async def check_redis(redis: Redis) -> CheckResult:
    """PING Redis, within the deadline."""
    return await _probe(redis.ping)


def overall_status(database: CheckResult, cache: CheckResult) -> Status:
    """`unhealthy` without PostgreSQL, `degraded` without Redis, else `healthy`."""
    if database.status != "up":
        return "unhealthy"
    return "degraded" if cache.status != "up" else "healthy"


class HealthMonitor:
    """Runs the detailed check: once for all concurrent callers, the tenants' migration scan kept 30 s.

    The scan reads every tenant's migration table, so its cost grows with the fleet: it runs at
    most once per PENDING_CACHE_SECONDS, in the background once a first result exists (callers
    get the last count meanwhile), and the report around it is shared by concurrent callers.
    """

    def __init__(self, service: str, version: str, redis: Redis) -> None:
        self.service = service
        self.version = version
        self.redis = redis
        self.started = time.monotonic()
        self.pending = Shared(_count_pending, PENDING_CACHE_SECONDS, serve_stale=True)
        self.report = Shared(self._compute, fresh_seconds=0.0)

    async def detailed(self) -> dict[str, Any]:
        """The full report; `unhealthy` without PostgreSQL, `degraded` without Redis."""
        return await self.report.get()

    async def _compute(self) -> dict[str, Any]:
        database, cache = await check_database(), await check_redis(self.redis)
        pending = await self.pending.get() if database.status == "up" else None
        return {
            "status": overall_status(database, cache),
            "timestamp": datetime.now(UTC).isoformat(),
            "service": self.service,
            "version": self.version,
            "uptime_seconds": round(time.monotonic() - self.started, 1),
            "checks": {
                "database": msgspec.to_builtins(database),
                "redis": msgspec.to_builtins(cache),
                "migrations": {"pending_tenants": pending},
                "system": system_usage(),
            },
        }


async def _count_pending() -> int | None:
    """Tenants with migrations not yet applied (read-only check); None if it could not be read."""
    try:
        summary = await run_migrations(RunOptions(jobs=1, check=True))
    except Exception as exc:
        logger.warning("health: could not count pending migrations: {}", type(exc).__name__)
        return None
    return summary.count("pending")
