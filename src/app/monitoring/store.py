"""The dashboard's aggregates in Redis: what each worker writes, and what the page's document reads.

Every key is bounded in size and expires, whatever the traffic (nothing here can grow with the
number of requests, of distinct ids in paths, or of tenants):

| key (prefix `cobreja:monitoring:`) | type | bound | expires |
| --- | --- | --- | --- |
| `rt` | list of "second count sum min max" per worker and second | RT_CAP entries | 1 h |
| `latency:<minute>` | hash: latency bucket → count | ~150 log-spaced buckets | 10 min |
| `day:<YYYY-MM-DD>` | hash: counts, `status:<code>`, `method:<m>` | statuses and methods | 8 days |
| `hour:<unix hour>` | hash: requests, server/client errors | 3 fields | 26 h |
| `endpoints:<day>` | hash: "<method> <template>" → count, "… ms" (tab) → sum | route templates | 2 days |
| `errors:<day>` | hash: exception type → count | exception classes | 2 days |
| `tenants:<day>` | sorted set: slug → requests | TENANT_CAP busiest | 2 days |
| `slow:<unix hour>` | sorted set: request → duration | SLOW_CAP slowest | 25 h |
| `workers` | sorted set: worker id → last seen | live in the last minute | 1 day |
| `worker:<id>` | string: the worker's report | one | 10 s |
| `health` | list of health samples | HEALTH_CAP | 1 day |

Days are UTC days. Keeping 8 days of day totals lets "today vs yesterday" survive restarts.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from app.monitoring.document import HealthSample, SlowRequest, Worker
from app.monitoring.recording import Window

PREFIX = "cobreja:monitoring:"
RT_CAP = 4096
SLOW_CAP = 10
TENANT_CAP = 200
HEALTH_CAP = 100
WORKER_REPORT_SECONDS = 10
WORKER_FORGOTTEN_SECONDS = 60
RECENT_SECONDS = 300
RATE_SECONDS = 60
LATENCY_MINUTES = 5
HOURS = 24
TTL = {"rt": 3600, "latency": 600, "day": 8 * 86400, "hour": 26 * 3600, "daily": 2 * 86400,
       "slow": 25 * 3600, "workers": 86400, "health": 86400}


def day_of(when: float) -> str:
    """The UTC day `when` falls in, `YYYY-MM-DD`."""
    return time.strftime("%Y-%m-%d", time.gmtime(when))


def hour_of(when: float) -> int:
    """The Unix time the hour of `when` starts."""
    return int(when // 3600) * 3600


def minute_of(when: float) -> int:
    """The Unix time the minute of `when` starts."""
    return int(when // 60) * 60


def key(*parts: object) -> str:
    """The Redis key of these parts, under the dashboard's prefix."""
    return PREFIX + ":".join(str(part) for part in parts)


@dataclass(frozen=True, slots=True)
class Deltas:
    """What a worker's cumulative counters added since its last flush."""

    db_queries: int = 0
    cache_hits: int = 0
    cache_misses: int = 0


def write_window(pipe: Pipeline, window: Window, deltas: Deltas) -> None:
    """Queue the commands that add `window` (and the counters' `deltas`) to the aggregates."""
    day, hour = day_of(window.opened), hour_of(window.opened)
    _write_seconds(pipe, window)
    _write_latency(pipe, window)
    _write_day(pipe, day, window, deltas)
    _write_hour(pipe, hour, window)
    _write_endpoints(pipe, day, window)
    _write_counted(pipe, key("errors", day), window.exceptions, TTL["daily"])
    if window.tenants:
        tenants = key("tenants", day)
        for slug, count in window.tenants.items():
            pipe.zincrby(tenants, count, slug)
        pipe.zremrangebyrank(tenants, 0, -(TENANT_CAP + 1))
        pipe.expire(tenants, TTL["daily"])
    if window.slow:
        slow = key("slow", hour)
        # The request id makes equal-looking requests distinct members.
        pipe.zadd(slow, {msgspec.json.encode(entry): entry.duration_ms for entry in window.slow})
        pipe.zremrangebyrank(slow, 0, -(SLOW_CAP + 1))
        pipe.expire(slow, TTL["slow"])


def write_deltas(pipe: Pipeline, when: float, deltas: Deltas) -> None:
    """Queue the counters' deltas alone (a flush with no request recorded)."""
    _increment(pipe, key("day", day_of(when)), _delta_fields(deltas), TTL["day"])


def _write_seconds(pipe: Pipeline, window: Window) -> None:
    entries = [f"{second} {int(c)} {s:.3f} {lo:.3f} {hi:.3f}" for second, (c, s, lo, hi) in window.seconds.items()]
    pipe.lpush(key("rt"), *entries)
    pipe.ltrim(key("rt"), 0, RT_CAP - 1)
    pipe.expire(key("rt"), TTL["rt"])


def _write_latency(pipe: Pipeline, window: Window) -> None:
    _write_counted(pipe, key("latency", minute_of(window.opened)), window.latency, TTL["latency"])


def _write_day(pipe: Pipeline, day: str, window: Window, deltas: Deltas) -> None:
    fields: dict[str, float] = {
        "requests": window.requests,
        "server_errors": window.count_statuses(500, 600),
        "client_errors": window.count_statuses(400, 500),
        "slow": window.slow_count,
        **_delta_fields(deltas),
    }
    fields.update({f"status:{status}": n for status, n in window.statuses.items()})
    fields.update({f"method:{method}": n for method, n in window.methods.items()})
    _increment(pipe, key("day", day), fields, TTL["day"])
    pipe.hincrbyfloat(key("day", day), "duration_ms", round(window.duration_ms, 3))


def _write_hour(pipe: Pipeline, hour: int, window: Window) -> None:
    fields = {"requests": window.requests, "server_errors": window.count_statuses(500, 600),
              "client_errors": window.count_statuses(400, 500)}
    _increment(pipe, key("hour", hour), fields, TTL["hour"])


def _write_endpoints(pipe: Pipeline, day: str, window: Window) -> None:
    endpoints = key("endpoints", day)
    for (method, route), (count, total_ms) in window.endpoints.items():
        pipe.hincrby(endpoints, f"{method} {route}", int(count))
        pipe.hincrbyfloat(endpoints, f"{method} {route}\tms", round(total_ms, 3))
    pipe.expire(endpoints, TTL["daily"])


def _write_counted(pipe: Pipeline, name: str, counts: Mapping[Any, float], ttl: int) -> None:
    if counts:
        _increment(pipe, name, counts, ttl)


def _increment(pipe: Pipeline, name: str, fields: Mapping[Any, float], ttl: int) -> None:
    for field_name, amount in fields.items():
        if amount:
            pipe.hincrby(name, str(field_name), int(amount))
    pipe.expire(name, ttl)


def _delta_fields(deltas: Deltas) -> dict[str, float]:
    return {"db_queries": deltas.db_queries, "cache_hits": deltas.cache_hits, "cache_misses": deltas.cache_misses}


class WorkerReport(msgspec.Struct, kw_only=True):
    """What a worker says of itself at each flush."""

    id: str
    pid: int
    started: float
    in_flight: int
    requests: int
    listener_connected: bool
    redis_trusted: bool


def write_worker(pipe: Pipeline, report: WorkerReport, now: float) -> None:
    """Queue the worker's report (expiring) and its entry in the live workers (old entries dropped)."""
    pipe.set(key("worker", report.id), msgspec.json.encode(report), ex=WORKER_REPORT_SECONDS)
    pipe.zadd(key("workers"), {report.id: now})
    pipe.zremrangebyscore(key("workers"), "-inf", now - WORKER_FORGOTTEN_SECONDS)
    pipe.expire(key("workers"), TTL["workers"])


def write_health(pipe: Pipeline, sample: HealthSample) -> None:
    """Queue one health sample at the head of the capped history."""
    pipe.lpush(key("health"), msgspec.json.encode(sample))
    pipe.ltrim(key("health"), 0, HEALTH_CAP - 1)
    pipe.expire(key("health"), TTL["health"])


@dataclass
class Stored:
    """The aggregates as read back, still raw (the report turns them into the document)."""

    seconds: list[tuple[int, int, float, float, float]] = field(default_factory=list)
    latency: dict[int, int] = field(default_factory=dict)
    today: dict[str, float] = field(default_factory=dict)
    yesterday: dict[str, float] = field(default_factory=dict)
    hours: list[tuple[int, dict[str, float]]] = field(default_factory=list)
    endpoints: dict[str, float] = field(default_factory=dict)
    errors: dict[str, float] = field(default_factory=dict)
    tenants: list[tuple[str, float]] = field(default_factory=list)
    slowest: list[SlowRequest] = field(default_factory=list)
    workers: list[Worker] = field(default_factory=list)
    health: list[HealthSample] = field(default_factory=list)


async def read(redis: Redis, now: float) -> Stored:
    """Read every aggregate the document needs, in two round trips."""
    day, hour = day_of(now), hour_of(now)
    hours = [hour - 3600 * back for back in range(HOURS - 1, -1, -1)]
    minutes = [minute_of(now) - 60 * back for back in range(LATENCY_MINUTES)]
    pipe = redis.pipeline(transaction=False)
    pipe.lrange(key("rt"), 0, -1)
    for minute in minutes:
        pipe.hgetall(key("latency", minute))
    pipe.hgetall(key("day", day))
    pipe.hgetall(key("day", day_of(now - 86400)))
    for start in hours:
        pipe.hgetall(key("hour", start))
        pipe.zrevrange(key("slow", start), 0, SLOW_CAP - 1)
    pipe.hgetall(key("endpoints", day))
    pipe.hgetall(key("errors", day))
    pipe.zrevrange(key("tenants", day), 0, 9, withscores=True)
    pipe.zrangebyscore(key("workers"), now - WORKER_REPORT_SECONDS, "+inf")
    pipe.lrange(key("health"), 0, 49)
    replies = iter(await pipe.execute())
    stored = Stored(seconds=_parse_seconds(next(replies), now))
    for reply in (next(replies) for _ in minutes):
        for bucket, count in _numbers(reply).items():
            stored.latency[int(bucket)] = stored.latency.get(int(bucket), 0) + int(count)
    stored.today, stored.yesterday = _numbers(next(replies)), _numbers(next(replies))
    slow_replies = []
    for start in hours:
        stored.hours.append((start, _numbers(next(replies))))
        slow_replies.extend(next(replies))
    stored.slowest = _parse_slow(slow_replies)
    stored.endpoints, stored.errors = _numbers(next(replies)), _numbers(next(replies))
    stored.tenants = [(slug.decode(), score) for slug, score in next(replies)]
    worker_ids = next(replies)
    stored.health = [msgspec.json.decode(raw, type=HealthSample) for raw in next(replies)]
    stored.workers = await _read_workers(redis, worker_ids, now)
    return stored


def _parse_seconds(raw: list[bytes], now: float) -> list[tuple[int, int, float, float, float]]:
    oldest = int(now) - RECENT_SECONDS
    entries = []
    for line in raw:
        second, count, total, low, high = line.split()
        if int(second) >= oldest:
            entries.append((int(second), int(count), float(total), float(low), float(high)))
    return entries


def _parse_slow(raw: list[bytes]) -> list[SlowRequest]:
    decoded = [msgspec.json.decode(member, type=SlowRequest) for member in raw]
    return sorted(decoded, key=lambda slow: slow.duration_ms, reverse=True)[:SLOW_CAP]


def _numbers(raw: dict[bytes, bytes]) -> dict[str, float]:
    return {name.decode(): float(value) for name, value in raw.items()}


async def _read_workers(redis: Redis, worker_ids: list[bytes], now: float) -> list[Worker]:
    if not worker_ids:
        return []
    pipe = redis.pipeline(transaction=False)
    pipe.mget([key("worker", worker.decode()) for worker in worker_ids])
    pipe.zmscore(key("workers"), [worker.decode() for worker in worker_ids])
    reports, seen = await pipe.execute()
    workers = []
    for raw, last_seen in zip(reports, seen, strict=True):
        if raw is not None:
            report = msgspec.json.decode(raw, type=WorkerReport)
            workers.append(Worker(id=report.id, pid=report.pid, uptime_seconds=round(now - report.started, 1),
                                  in_flight=report.in_flight, requests=report.requests,
                                  listener_connected=report.listener_connected, redis_trusted=report.redis_trusted,
                                  last_seen=float(last_seen or now)))
    return sorted(workers, key=lambda worker: worker.id)
