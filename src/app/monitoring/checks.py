"""Health checks (O4): each dependency probed with a deadline, the last results kept."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from datetime import UTC, datetime
from typing import Any

import msgspec
from redis.asyncio import Redis

from app.db import ENGINE
from app.telemetry import system_usage
from app.tenants.fleet import RunOptions, run_migrations

CHECK_DEADLINE_SECONDS = 2.0
PENDING_CACHE_SECONDS = 30.0
HISTORY_SIZE = 50


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


class HealthMonitor:
    """Runs the detailed check and remembers the last results.

    `history` is written here and read by nobody yet: the monitoring dashboard (SPEC O6, its
    health-history panel) is what it is kept for.
    """

    def __init__(self, service: str, version: str) -> None:
        self.service = service
        self.version = version
        self.started = time.monotonic()
        self.history: deque[dict[str, Any]] = deque(maxlen=HISTORY_SIZE)
        self._pending: tuple[float, int | None] = (0.0, None)

    async def pending_tenants(self) -> int | None:
        """Tenants with migrations not yet applied (read-only check, cached); None if unknown."""
        expires, value = self._pending
        if time.monotonic() < expires:
            return value
        try:
            summary = await run_migrations(RunOptions(jobs=1, check=True))
            value = summary.count("pending")
        except Exception:
            value = None
        self._pending = (time.monotonic() + PENDING_CACHE_SECONDS, value)
        return value

    async def detailed(self, redis: Redis) -> dict[str, Any]:
        """The full report; `unhealthy` without PostgreSQL, `degraded` without Redis."""
        database, cache = await check_database(), await check_redis(redis)
        pending = await self.pending_tenants() if database.status == "up" else None
        status = "unhealthy" if database.status != "up" else "degraded" if cache.status != "up" else "healthy"
        report = {
            "status": status,
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
        self.history.append(report)
        return report
