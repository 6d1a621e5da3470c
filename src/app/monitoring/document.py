"""The monitoring document (O5): every figure of `/monitoring/api/metrics`, and the data of each panel (O6).

Times are Unix seconds (UTC); the page shows them in the viewer's time zone. Durations are
milliseconds (`_ms`), sizes bytes (`_bytes`), shares percent (`_percent`). A figure nobody could
measure yet is `None` ("no data yet"), never a made-up 0.
"""

from __future__ import annotations

from typing import Literal

import msgspec


class Summary(msgspec.Struct, kw_only=True):
    """The headline figures, over every worker."""

    requests_per_second: float
    """Requests answered per second over the last minute."""
    avg_response_ms: float | None
    """Mean response time over the last `recent_seconds`."""
    p95_response_ms: float | None
    """95th percentile response time over the last five minutes (within 5 %: log-spaced buckets)."""
    in_flight: int
    """Requests being answered right now, summed over the live workers."""
    error_rate_percent: float | None
    """Share of today's requests answered with a 5xx."""
    uptime_seconds: float
    """Time since the longest-running live worker started."""
    db_queries: int | None
    """SQL statements run today (None while metrics are off: statements are counted by the metrics signal)."""
    cache_hit_rate_percent: float | None
    """Share of token lookups answered by the workers' in-process cache today."""


class Totals(msgspec.Struct, kw_only=True):
    """Today's counts (UTC day), over every worker."""

    day: str
    """The UTC day counted, `YYYY-MM-DD`."""
    requests: int
    server_errors: int
    """Requests answered with a 5xx."""
    client_errors: int
    """Requests answered with a 4xx."""
    slow_requests: int
    """Requests at least `slow_threshold_ms` slow."""
    by_method: dict[str, int]
    by_status: dict[str, int]


class ResponseTimePoint(msgspec.Struct, kw_only=True):
    """Requests answered within one second, over every worker."""

    time: int
    count: int
    avg_ms: float
    min_ms: float
    max_ms: float


class SlowRequest(msgspec.Struct, kw_only=True):
    """One request at least `slow_threshold_ms` slow (never a raw path: the route template)."""

    time: float
    method: str
    path: str
    """The route template, e.g. `/items/{item_id:int}`; `<unmatched>` when no route matched."""
    tenant: str | None
    status: int
    duration_ms: float
    request_id: str
    """Its X-Request-Id: finds its access line (and, if recorded, its trace)."""


class Endpoint(msgspec.Struct, kw_only=True):
    """One route template's traffic today."""

    method: str
    path: str
    count: int
    avg_ms: float


class HourErrors(msgspec.Struct, kw_only=True):
    """One hour's requests and errors (`hour` is the Unix time the hour starts)."""

    hour: int
    requests: int
    server_errors: int
    client_errors: int


class ErrorType(msgspec.Struct, kw_only=True):
    """An exception type raised while answering, and how often today."""

    type: str
    status_class: Literal["4xx", "5xx", "other"]
    """`4xx`: the client's mistake, answered as such (say, ItemNotFound); `5xx`: a failure of the service."""
    count: int


class SystemUsage(msgspec.Struct, kw_only=True):
    """The machine of the answering worker."""

    cpu_percent: float
    memory_percent: float
    disk_percent: float
    warning_percent: float
    """Above this share a resource is shown as a warning."""


class RedisStats(msgspec.Struct, kw_only=True):
    """Redis as its INFO reports it (`up` false and the rest None when it does not answer)."""

    up: bool
    error: str | None = None
    version: str | None = None
    hit_rate_percent: float | None = None
    """keyspace_hits / (hits + misses) since Redis started."""
    used_memory_bytes: int | None = None
    ops_per_second: float | None = None
    connected_clients: int | None = None


class PostgresStats(msgspec.Struct, kw_only=True):
    """The service's database, from pg_stat_database (`up` false and the rest None when it does not answer)."""

    up: bool
    error: str | None = None
    database_size_bytes: int | None = None
    connections: int | None = None
    max_connections: int | None = None
    commits: int | None = None
    rollbacks: int | None = None


class TenantCount(msgspec.Struct, kw_only=True):
    """A tenant and its requests today."""

    slug: str
    requests: int


class Tenants(msgspec.Struct, kw_only=True):
    """The registry's tenants by status, and the busiest today."""

    total: int | None
    by_status: dict[str, int]
    busiest: list[TenantCount]


class HealthSample(msgspec.Struct, kw_only=True):
    """One periodic health check by one worker."""

    time: float
    status: Literal["healthy", "degraded", "unhealthy"]
    database_ms: float | None
    redis_ms: float | None
    worker: str


class Health(msgspec.Struct, kw_only=True):
    """The latest health checks, newest first, and the share that were healthy."""

    status: Literal["healthy", "degraded", "unhealthy"] | None
    uptime_seconds: float
    availability_percent: float | None
    """Share of the kept checks whose status was `healthy`."""
    history: list[HealthSample]


class Comparison(msgspec.Struct, kw_only=True):
    """One figure today (so far) against yesterday (whole day), UTC days."""

    name: str
    label: str
    unit: Literal["requests", "%", "ms"]
    today: float | None
    yesterday: float | None
    change_percent: float | None
    """(today - yesterday) / yesterday × 100; None when yesterday has no data."""
    direction: Literal["up", "down", "same"] | None
    higher_is_better: bool | None
    """True: ↑ is good news; False: ↑ is bad news; None: neither (say, traffic)."""


class MigrationRun(msgspec.Struct, kw_only=True):
    """One fleet migration run, from the ledger (runs that applied or failed at least one migration)."""

    run_id: str
    started_at: float
    finished_at: float
    duration_ms: float
    tenants_migrated: int
    tenants_failed: int


class Worker(msgspec.Struct, kw_only=True):
    """One live worker process, as it last reported itself (about every second)."""

    id: str
    pid: int
    uptime_seconds: float
    in_flight: int
    requests: int
    """Requests it recorded since it started."""
    listener_connected: bool
    """Whether its tenant invalidation listener is subscribed to Redis."""
    redis_trusted: bool
    """Whether it trusts Redis's token records (false until the outbox is drained after a reconnect)."""
    last_seen: float


class Background(msgspec.Struct, kw_only=True):
    """Work that happens outside requests: fleet migrations, the token outbox, the workers' listeners."""

    migration_runs: list[MigrationRun]
    outbox_backlog: int | None
    """Redis writes the token outbox still owes (None when PostgreSQL does not answer)."""
    workers: list[Worker]


class MonitoringDocument(msgspec.Struct, kw_only=True):
    """Everything the dashboard shows, in one document."""

    service: str
    version: str
    answered_by: str
    """The worker that built this document (the system panel is its machine)."""
    generated_at: float
    recent_seconds: int
    """The window of `response_times` and of the summary's rates and response times."""
    slow_threshold_ms: float
    recording: bool
    """Whether this worker records requests for the dashboard (MONITORING_RECORDING)."""
    summary: Summary
    totals: Totals
    response_times: list[ResponseTimePoint]
    slowest: list[SlowRequest]
    endpoints: list[Endpoint]
    errors_per_hour: list[HourErrors]
    """The last 24 hours, oldest first, one entry per hour (zeros included)."""
    error_types: list[ErrorType]
    system: SystemUsage
    redis: RedisStats
    postgres: PostgresStats
    tenants: Tenants
    health: Health
    comparison: list[Comparison]
    background: Background
