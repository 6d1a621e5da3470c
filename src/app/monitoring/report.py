"""The monitoring document (O5), put together from Redis's aggregates and live readings.

`Dashboard.document()` is shared by concurrent callers and kept `DOCUMENT_FRESH_SECONDS`, so any
number of open pages cost one read of Redis and a few small queries a second. Each source has
its own failure: Redis down leaves the recorded panels empty (and the health history local),
PostgreSQL down leaves its panel, the tenants and the background work unknown — the document
itself is always answered.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from loguru import logger
from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.db import CIRCUIT, ENGINE
from app.monitoring import store
from app.monitoring.document import (
    Background,
    Comparison,
    Endpoint,
    ErrorType,
    Health,
    HealthSample,
    HourErrors,
    MigrationRun,
    MonitoringDocument,
    PostgresStats,
    RedisStats,
    ResponseTimePoint,
    Summary,
    SystemUsage,
    TenantCount,
    Tenants,
    Totals,
)
from app.monitoring.flush import WORKER_ID, HealthSampler
from app.monitoring.recording import Clock, bucket_middle_ms
from app.monitoring.shared import Shared
from app.telemetry import system_usage
from app.tenants import FleetActivity, fleet_activity

DOCUMENT_FRESH_SECONDS = 1.0
SOURCE_DEADLINE_SECONDS = 2.0
WARNING_PERCENT = 80.0
_POSTGRES = (
    "SELECT pg_database_size(current_database()) AS size, xact_commit, xact_rollback,"
    " (SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()) AS connections,"
    " current_setting('max_connections')::int AS max_connections"
    " FROM pg_stat_database WHERE datname = current_database()"
)


class Dashboard:
    """Builds the document for the page and the JSON API."""

    def __init__(self, redis: Redis, health: HealthSampler, *, clock: Clock, slow_request_ms: float,
                 recording: bool, version: str = "") -> None:
        self.redis = redis
        self.version = version
        self.health = health
        self.clock = clock
        self.slow_request_ms = slow_request_ms
        self.recording = recording
        self.started = clock()
        self.shared = Shared(self._build, DOCUMENT_FRESH_SECONDS)

    async def document(self) -> MonitoringDocument:
        """The document, shared by concurrent callers."""
        return await self.shared.get()

    async def _build(self) -> MonitoringDocument:
        now = self.clock()
        stored, redis_stats = await self._read_redis(now)
        activity, postgres = await self._read_postgres()
        health = self._health(stored, now)
        return MonitoringDocument(
            service="cobreja", version=self.version, answered_by=WORKER_ID, generated_at=round(now, 3),
            recent_seconds=store.RECENT_SECONDS, slow_threshold_ms=self.slow_request_ms,
            recording=self.recording, summary=_summary(stored, now, self._uptime(stored, now)),
            totals=_totals(stored.today, store.day_of(now)), response_times=_response_times(stored),
            slowest=stored.slowest, endpoints=_endpoints(stored.endpoints), errors_per_hour=_hours(stored),
            error_types=_error_types(stored.errors), system=_system(), redis=redis_stats, postgres=postgres,
            tenants=_tenants(activity, stored), health=health, comparison=_comparison(stored),
            background=Background(migration_runs=_runs(activity), outbox_backlog=activity.outbox_backlog if activity
                                  else None, workers=stored.workers),
        )

    async def _read_redis(self, now: float) -> tuple[store.Stored, RedisStats]:
        try:
            async with asyncio.timeout(SOURCE_DEADLINE_SECONDS):
                stored = await store.read(self.redis, now)
                info = await self.redis.info()
        except (RedisError, OSError) as exc:
            logger.info("monitoring: Redis does not answer ({})", type(exc).__name__)
            return store.Stored(), RedisStats(up=False, error=type(exc).__name__)
        return stored, _redis_stats(info)

    async def _read_postgres(self) -> tuple[FleetActivity | None, PostgresStats]:
        try:
            async with asyncio.timeout(SOURCE_DEADLINE_SECONDS), CIRCUIT.guard():  # 503-fast while it is down
                activity = await fleet_activity()
                async with ENGINE.pool.acquire() as connection:  # type: ignore[union-attr]
                    row = await connection.fetchrow(_POSTGRES)
            if row is None:
                raise LookupError("pg_stat_database has no row for the current database")
        except Exception as exc:  # any failure of one source must leave the rest of the page
            logger.info("monitoring: PostgreSQL does not answer ({})", type(exc).__name__)
            return None, PostgresStats(up=False, error=type(exc).__name__)
        return activity, PostgresStats(up=True, database_size_bytes=row["size"], connections=row["connections"],
                                       max_connections=row["max_connections"], commits=row["xact_commit"],
                                       rollbacks=row["xact_rollback"])

    def _uptime(self, stored: store.Stored, now: float) -> float:
        """The longest-running live worker's uptime (this worker's when none reported)."""
        return max([worker.uptime_seconds for worker in stored.workers] + [round(now - self.started, 1)])

    def _health(self, stored: store.Stored, now: float) -> Health:
        history: list[HealthSample] = stored.health or list(self.health.local)
        healthy = sum(1 for sample in history if sample.status == "healthy")
        return Health(status=history[0].status if history else None, uptime_seconds=self._uptime(stored, now),
                      availability_percent=_percent(healthy, len(history)), history=history)


def _percent(part: float, whole: float) -> float | None:
    return round(100.0 * part / whole, 2) if whole else None


def _summary(stored: store.Stored, now: float, uptime: float) -> Summary:
    recent = [entry for entry in stored.seconds if entry[0] >= int(now) - store.RATE_SECONDS]
    latency_count = sum(stored.latency.values())
    window_count = sum(entry[1] for entry in stored.seconds)
    today = stored.today
    return Summary(
        requests_per_second=round(sum(entry[1] for entry in recent) / store.RATE_SECONDS, 2),
        avg_response_ms=round(sum(entry[2] for entry in stored.seconds) / window_count, 2) if window_count else None,
        p95_response_ms=_percentile(stored.latency, latency_count, 0.95),
        in_flight=sum(worker.in_flight for worker in stored.workers),
        error_rate_percent=_percent(today.get("server_errors", 0), today.get("requests", 0)),
        uptime_seconds=uptime,
        db_queries=int(today["db_queries"]) if "db_queries" in today else None,
        cache_hit_rate_percent=_percent(today.get("cache_hits", 0),
                                        today.get("cache_hits", 0) + today.get("cache_misses", 0)),
    )


def _percentile(buckets: dict[int, int], count: int, share: float) -> float | None:
    if not count:
        return None
    rank, seen = share * count, 0
    for index in sorted(buckets):
        seen += buckets[index]
        if seen >= rank:
            return round(bucket_middle_ms(index), 2)
    return None  # pragma: no cover - the loop reaches `count`


def _totals(today: dict[str, float], day: str) -> Totals:
    def prefixed(prefix: str) -> dict[str, int]:
        return {name[len(prefix):]: int(value) for name, value in sorted(today.items()) if name.startswith(prefix)}

    return Totals(day=day, requests=int(today.get("requests", 0)), server_errors=int(today.get("server_errors", 0)),
                  client_errors=int(today.get("client_errors", 0)), slow_requests=int(today.get("slow", 0)),
                  by_method=prefixed("method:"), by_status=prefixed("status:"))


def _response_times(stored: store.Stored) -> list[ResponseTimePoint]:
    """Per second, the workers' entries merged (counts and sums add, min and max of each)."""
    merged: dict[int, list[float]] = {}
    for second, count, total, low, high in stored.seconds:
        entry = merged.get(second)
        if entry is None:
            merged[second] = [count, total, low, high]
        else:
            entry[0] += count
            entry[1] += total
            entry[2], entry[3] = min(entry[2], low), max(entry[3], high)
    return [ResponseTimePoint(time=second, count=int(c), avg_ms=round(s / c, 2), min_ms=round(lo, 2),
                              max_ms=round(hi, 2)) for second, (c, s, lo, hi) in sorted(merged.items())]


def _endpoints(raw: dict[str, float]) -> list[Endpoint]:
    endpoints = []
    for name, count in raw.items():
        if "\t" not in name and count:
            method, _, path = name.partition(" ")
            endpoints.append(Endpoint(method=method, path=path, count=int(count),
                                      avg_ms=round(raw.get(f"{name}\tms", 0.0) / count, 2)))
    return sorted(endpoints, key=lambda endpoint: (-endpoint.count, endpoint.path))[:10]


def _hours(stored: store.Stored) -> list[HourErrors]:
    return [HourErrors(hour=start, requests=int(counts.get("requests", 0)),
                       server_errors=int(counts.get("server_errors", 0)),
                       client_errors=int(counts.get("client_errors", 0))) for start, counts in stored.hours]


def _error_types(raw: dict[str, float]) -> list[ErrorType]:
    ranked = sorted(raw.items(), key=lambda item: (-item[1], item[0]))[:10]
    types = []
    for name, count in ranked:
        status_class, _, exception_type = name.partition(" ")
        if status_class in {"4xx", "5xx", "other"}:
            types.append(ErrorType(type=exception_type, status_class=status_class, count=int(count)))  # type: ignore[arg-type]
    return types


def _system() -> SystemUsage:
    usage = system_usage()
    return SystemUsage(cpu_percent=usage["cpu"], memory_percent=usage["memory"], disk_percent=usage["disk"],
                       warning_percent=WARNING_PERCENT)


def _redis_stats(info: dict[str, Any]) -> RedisStats:
    hits, misses = int(info.get("keyspace_hits", 0)), int(info.get("keyspace_misses", 0))
    return RedisStats(up=True, version=str(info.get("redis_version", "")) or None,
                      hit_rate_percent=_percent(hits, hits + misses), used_memory_bytes=int(info.get("used_memory", 0)),
                      ops_per_second=float(info.get("instantaneous_ops_per_sec", 0)),
                      connected_clients=int(info.get("connected_clients", 0)))


def _tenants(activity: FleetActivity | None, stored: store.Stored) -> Tenants:
    by_status = dict(sorted(activity.tenants_by_status.items())) if activity else {}
    return Tenants(total=sum(by_status.values()) if activity else None, by_status=by_status,
                   busiest=[TenantCount(slug=slug, requests=int(count)) for slug, count in stored.tenants])


def _runs(activity: FleetActivity | None) -> list[MigrationRun]:
    if activity is None:
        return []
    return [MigrationRun(run_id=run.run_id, started_at=run.started_at.timestamp(),
                         finished_at=run.finished_at.timestamp(), duration_ms=round(run.duration_ms, 1),
                         tenants_migrated=run.tenants_migrated, tenants_failed=run.tenants_failed)
            for run in activity.recent_runs]


Unit = Literal["requests", "%", "ms"]
COMPARED: tuple[tuple[str, str, Unit, bool | None], ...] = (
    ("requests", "Requests", "requests", None),
    ("server_errors", "Server errors (5xx)", "requests", False),
    ("error_rate", "Error rate", "%", False),
    ("avg_response", "Average response time", "ms", False),
    ("slow", "Slow requests", "requests", False),
)


def _comparison(stored: store.Stored) -> list[Comparison]:
    """Today so far against the whole of yesterday (UTC days), from the day totals kept 8 days."""
    rows = []
    for name, label, unit, higher_is_better in COMPARED:
        today, yesterday = _day_figure(stored.today, name), _day_figure(stored.yesterday, name)
        change = round(100.0 * (today - yesterday) / yesterday, 1) if today is not None and yesterday else None
        direction: Literal["up", "down", "same"] | None = None
        if today is not None and yesterday is not None:
            direction = "up" if today > yesterday else "down" if today < yesterday else "same"
        rows.append(Comparison(name=name, label=label, unit=unit, today=today, yesterday=yesterday,
                               change_percent=change, direction=direction, higher_is_better=higher_is_better))
    return rows


def _day_figure(day: dict[str, float], name: str) -> float | None:
    """One compared figure of a day's totals; None for a day with no recorded request."""
    requests = day.get("requests", 0)
    if not requests:
        return None
    if name == "error_rate":
        return _percent(day.get("server_errors", 0), requests)
    if name == "avg_response":
        return round(day.get("duration_ms", 0) / requests, 2)
    return day.get(name, 0)
