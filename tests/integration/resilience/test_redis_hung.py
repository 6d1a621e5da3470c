"""A hung Redis (SIGSTOP) costs one timeout, not one per request, and is trusted again only after an answer (R1).

An `app run` process on a Valkey and a database of this test's own: while Redis is stopped, tenants
never seen by the process (registry) and cached ones keep being served, no request waits more than
one Redis timeout, and Redis reads are trusted again only once a real round trip succeeded.
"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import httpx

from app.settings import Settings
from tests.support.embedded import OwnValkey
from tests.support.probes import admin_call, warm
from tests.support.servers import app_env, serving
from tests.support.tenants import make_tenant

TIMEOUT = Settings().redis_timeout_seconds
MONITORING = "/monitoring/api/metrics"


async def test_a_hung_redis_costs_one_timeout_and_trust_needs_a_round_trip(
    http: httpx.AsyncClient, own_valkey: OwnValkey, own_database: str, tmp_path: Path
) -> None:
    """With Redis SIGSTOPped, 20 tenants never seen before are served, at most one of them paying one timeout.

    Before the fix, every cache miss paid two timeouts (GET, then a refill), recurring every ~2 s
    because a drain that never reached Redis re-trusted it. After SIGCONT, the process trusts Redis
    again by itself (the monitoring document shows its listener trusting Redis within seconds).
    """
    env = app_env(DATABASE_URL=own_database, REDIS_URL=own_valkey.url)
    with serving(env, tmp_path / "A.log", name="A") as a:
        tenants = [await make_tenant(http, "h", a.base_url) for _ in range(21)]
        cached = tenants.pop()
        await warm(http, [a], cached.token, times=1)
        own_valkey.signal(signal.SIGSTOP)
        try:
            took = []
            for tenant in tenants:
                started = time.monotonic()
                response = await http.get(f"{a.base_url}/items", headers=tenant.headers)
                took.append(time.monotonic() - started)
                assert response.status_code == 200, response.text
                await asyncio.sleep(0.15)  # spread over ~3 s: several listener probes happen meanwhile
            assert max(took) < TIMEOUT + 0.35, f"a request waited {max(took):.2f}s (one Redis timeout is {TIMEOUT}s)"
            waited = [round(seconds, 2) for seconds in took if seconds > TIMEOUT * 0.8]
            assert len(waited) <= 1, f"Redis was trusted again while hung: {len(waited)} requests paid a timeout"
            assert (await http.get(f"{a.base_url}/items", headers=cached.headers)).status_code == 200
        finally:
            own_valkey.signal(signal.SIGCONT)
        deadline = time.monotonic() + 10.0
        while '"redis_trusted":true' not in (text := (await admin_call(http, a, "GET", MONITORING)).text):
            assert time.monotonic() < deadline, f"Redis never trusted again: {text[:500]}"
            await asyncio.sleep(0.2)
