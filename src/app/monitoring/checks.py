"""Health checks (O4): each dependency probed with a deadline, the last results kept."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any, Literal

import msgspec
from loguru import logger
from redis.asyncio import Redis

from app.db import ENGINE
from app.monitoring.shared import Shared
from app.telemetry import system_usage
from app.tenants.fleet import RunOptions, run_migrations

CHECK_DEADLINE_SECONDS = 2.0
PENDING_CACHE_SECONDS = 30.0
Status = Literal["healthy", "degraded", "unhealthy"]


class CheckResult(msgspec.Struct):
    """One dependency's state: `up` or `down`, and how long the probe took."""

    status: str
    response_time_ms: float
    error: str | None = None


async def _probe(work: Any) -> CheckResult:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(CHECK_DEADLINE_SECONDS):
            await work()
    except Exception as exc:
        return CheckResult("down", _ms(started), type(exc).__name__)
    return CheckResult("up", _ms(started))


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


async def check_database() -> CheckResult:
    """`SELECT 1` on a pooled connection, within the deadline."""

    async def ping() -> None:
        async with ENGINE.pool.acquire(timeout=CHECK_DEADLINE_SECONDS) as connection:  # type: ignore[union-attr]
            await connection.fetchval("SELECT 1")

    return await _probe(ping)


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
