"""PostgreSQL down (R1, R4): fast 503 problem+json for what needs it, and the pool recovers by itself.

`app run` runs over a PostgreSQL of this module's own, which the test stops and starts again.
"""

from __future__ import annotations

import asyncio
import time

import httpx

from app.tenants.tokens import new_token
from tests.support.embedded import OwnPostgres
from tests.support.probes import FAST_SECONDS, assert_no_crash_logged, timed_status, warm
from tests.support.problems import assert_problem
from tests.support.servers import LiveServer
from tests.support.tenants import ADMIN_HEADERS, make_tenant, unique_slug


async def test_postgres_down_answers_503_fast_and_the_pool_recovers(
    http: httpx.AsyncClient, pg_app: LiveServer, postgres_running: OwnPostgres
) -> None:
    """PostgreSQL down: fast 503 problem+json, and the pool recovers by itself when it returns.

    Every request that needs the database answers 503 within 3 s (liveness still 200, never a 500 or
    a hang); started again, the same process serves reads and writes again.
    """
    tenant = await make_tenant(http, "r", pg_app.base_url)
    await warm(http, [pg_app], tenant.token, times=1)
    await asyncio.to_thread(postgres_running.stop)
    calls = [
        ("GET", "/items", tenant.headers, None),
        ("POST", "/items", tenant.headers, {"title": "while down"}),
        ("GET", "/admin/tenants", ADMIN_HEADERS, None),
        ("POST", "/admin/tenants", ADMIN_HEADERS, {"slug": unique_slug("down")}),
    ]
    for _ in range(3):
        for method, path, headers, body in calls:
            started = time.monotonic()
            response = await http.request(method, pg_app.url(path), headers=headers, json=body)
            assert time.monotonic() - started < FAST_SECONDS, f"{method} {path} hung"
            assert_problem(response, 503)
            assert response.headers.get("Retry-After")
        # A token no cache knows needs the registry: refused or 503, never a 500.
        assert await timed_status(http, pg_app, "/items", new_token()) in (401, 503)
        assert await timed_status(http, pg_app, "/health") == 200

    await asyncio.to_thread(postgres_running.start)
    started = time.monotonic()
    while (status := await timed_status(http, pg_app, "/items", tenant.token)) != 200:
        assert status == 503
        assert time.monotonic() - started < 10.0, "the pool did not recover within 10 s"
        await asyncio.sleep(0.1)
    response = await http.post(pg_app.url("/items"), json={"title": "after"}, headers=tenant.headers)
    assert response.status_code == 201, response.text
    assert_no_crash_logged(pg_app)
