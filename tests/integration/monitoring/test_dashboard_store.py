"""The dashboard's aggregates in a real Redis: bounded whatever the traffic; today vs yesterday across midnight."""

from __future__ import annotations

import collections
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from redis.asyncio import Redis

from app.monitoring import store
from app.monitoring.flush import Flusher, HealthSampler
from app.monitoring.recording import Recorder
from app.monitoring.report import Dashboard
from app.settings import Settings
from tests.support.dashboard import ManualClock, finished, redis_db

pytestmark = pytest.mark.usefixtures("client")  # the pool is started: the document reads PostgreSQL too


@pytest.fixture
async def own_redis(settings: Settings) -> AsyncIterator[Redis]:
    """A Redis database of this test's own, empty."""
    redis = Redis.from_url(redis_db(settings.redis_url, 10))
    await redis.flushdb()
    yield redis
    await redis.flushdb()
    await redis.aclose()


def dashboard_on(redis: Redis, clock: ManualClock) -> Dashboard:
    """The document builder a worker would have, on `redis` and `clock`."""
    return Dashboard(redis, HealthSampler(redis, clock), clock=clock, slow_request_ms=100.0, recording=True)


def worker_report() -> store.WorkerReport:
    """What a test worker says of itself."""
    return store.WorkerReport(id="test:1", pid=1, started=0.0, in_flight=0, requests=0, listener_connected=True,
                              redis_trusted=True)


async def test_aggregates_stay_bounded_after_100k_requests(own_redis: Redis) -> None:
    """100k requests over 10k item ids, 1k tenants and 50 simulated hours leave every key capped and expiring.

    Every tenth request matches no route (its raw path names the id); none of the raw paths may
    reach Redis, and no structure may grow with ids, tenants or requests.
    """
    clock = ManualClock(datetime(2026, 11, 30, 12, tzinfo=UTC).timestamp())
    recorder = Recorder(50.0, clock)
    flusher = Flusher(recorder, own_redis, worker_report, clock)
    rng = random.Random(7)  # noqa: S311  (traffic, not secrets)
    for n in range(100_000):
        item = rng.randrange(10_000)
        unmatched = n % 10 == 0
        recorder.finished(finished(
            route=None if unmatched else "/items/{item_id:int}",
            path=f"/items/{item}/x" if unmatched else f"/items/{item}",
            ms=rng.expovariate(1 / 20), status=rng.choice((200, 200, 200, 404, 500)),
            tenant=f"tenant{rng.randrange(1000)}", exception_type=rng.choice((None, "ItemNotFound", "KeyError")),
        ))
        clock.advance(1.8)
        if n % 500 == 499:
            assert await flusher.flush()
    keys = [raw.decode() async for raw in own_redis.scan_iter(match=store.PREFIX + "*", count=1000)]
    # Keys are per period of time, never per request, id or tenant: 50 hours make at most 51 hour
    # keys, 3 UTC days, one latency key per flush (each flush is in a new minute here). Each key
    # expires after its TTL, so in real time they stay at TTL / period (latency: 10, hours: 26).
    kinds = collections.Counter(name.removeprefix(store.PREFIX).split(":")[0] for name in keys)
    assert kinds["hour"] <= 51
    assert kinds["slow"] <= 51
    assert kinds["latency"] <= 200
    assert max(kinds["day"], kinds["endpoints"], kinds["errors"], kinds["tenants"]) <= 3
    assert kinds["rt"] == kinds["workers"] == kinds["worker"] == 1
    for name in keys:
        ttl = await own_redis.ttl(name)
        kind = name.removeprefix(store.PREFIX).split(":")[0]
        limit = {"endpoints": "daily", "errors": "daily", "tenants": "daily"}.get(kind, kind)
        assert 0 < ttl <= store.TTL.get(limit, store.WORKER_REPORT_SECONDS), name
        kind = (await own_redis.type(name)).decode()
        size = {"list": own_redis.llen, "hash": own_redis.hlen, "zset": own_redis.zcard}.get(kind)
        if size is not None:
            assert await size(name) <= max(store.RT_CAP, store.TENANT_CAP), name
        if ":tenants:" in name:
            assert await own_redis.zcard(name) <= store.TENANT_CAP
        if ":slow:" in name:
            assert await own_redis.zcard(name) <= store.SLOW_CAP
    dump = b"".join([await own_redis.dump(name) or b"" for name in keys])
    assert b"/x" not in dump  # no raw path, only templates and <unmatched>
    assert await own_redis.llen(store.key("rt")) == store.RT_CAP


async def test_today_against_yesterday_across_midnight_survives_a_restart(own_redis: Redis) -> None:
    """Requests just before and just after midnight (UTC) count on their own days; a new worker still compares them.

    The "restart" is a new recorder, flusher and dashboard: the day totals live in Redis.
    """
    clock = ManualClock(datetime(2026, 12, 1, 23, 59, 50, tzinfo=UTC).timestamp())
    recorder = Recorder(100.0, clock)
    flusher = Flusher(recorder, own_redis, worker_report, clock)
    for n in range(20):
        recorder.finished(finished(ms=10.0, status=500 if n < 2 else 200))
    assert await flusher.flush()
    clock.now = datetime(2026, 12, 2, 0, 0, 5, tzinfo=UTC).timestamp()
    restarted = Recorder(100.0, clock)
    for _ in range(10):
        restarted.finished(finished(ms=30.0))
    assert await Flusher(restarted, own_redis, worker_report, clock).flush()

    clock.advance(5)
    document = await dashboard_on(own_redis, clock).document()
    rows = {row.name: row for row in document.comparison}
    assert document.totals.day == "2026-12-02"
    assert (rows["requests"].today, rows["requests"].yesterday) == (10, 20)
    assert rows["requests"].change_percent == -50.0
    assert rows["requests"].direction == "down"
    assert (rows["server_errors"].today, rows["server_errors"].yesterday) == (0, 2)
    assert (rows["error_rate"].today, rows["error_rate"].yesterday) == (0.0, 10.0)
    assert (rows["avg_response"].today, rows["avg_response"].yesterday) == (30.0, 10.0)
    assert rows["avg_response"].direction == "up"
    assert rows["avg_response"].higher_is_better is False
    assert rows["avg_response"].change_percent == 200.0


async def test_with_no_traffic_every_panel_says_no_data(own_redis: Redis) -> None:
    """An empty Redis gives empty lists and None figures (the page's "no data yet"), never invented zeros."""
    clock = ManualClock(datetime(2026, 12, 2, 12, tzinfo=UTC).timestamp())
    document = await dashboard_on(own_redis, clock).document()
    assert document.summary.avg_response_ms is None
    assert document.summary.p95_response_ms is None
    assert document.summary.error_rate_percent is None
    assert document.summary.db_queries is None
    assert document.response_times == []
    assert document.slowest == []
    assert document.endpoints == []
    assert len(document.errors_per_hour) == 24
    assert {hour.requests for hour in document.errors_per_hour} == {0}
    assert all(row.today is None and row.direction is None for row in document.comparison)
    assert document.postgres.up
    assert document.redis.up


async def test_a_redis_outage_drops_the_window_and_is_logged_once(settings: Settings, captured: list[str]) -> None:
    """Flushing to a dead Redis fails without raising, says so once, and works again when Redis answers."""
    clock = ManualClock(datetime(2026, 12, 2, 12, tzinfo=UTC).timestamp())
    dead = Redis.from_url("redis://127.0.0.1:1/0", socket_timeout=0.2, socket_connect_timeout=0.2)
    recorder = Recorder(100.0, clock)
    flusher = Flusher(recorder, dead, worker_report, clock)
    try:
        for _ in range(3):
            recorder.finished(finished())
            assert not await flusher.flush()
    finally:
        await dead.aclose()
    assert sum("flush to Redis failed" in line for line in captured) == 1


async def test_the_document_endpoint_answers_the_same_shape(client: httpx.AsyncClient) -> None:
    """`/monitoring/api/metrics` (admin key) answers a document with every panel's key."""
    from tests.support.tenants import ADMIN_HEADERS

    body = (await client.get("/monitoring/api/metrics", headers=ADMIN_HEADERS)).json()
    assert set(body) >= {"summary", "totals", "response_times", "slowest", "endpoints", "errors_per_hour",
                         "error_types", "system", "redis", "postgres", "tenants", "health", "comparison", "background"}
