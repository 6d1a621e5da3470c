"""PostgreSQL restarted under concurrent writes (R1): no 500, no hang, no lost acknowledged write.

`app run` runs over a PostgreSQL of this module's own, which the test restarts twice under load.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime

import asyncpg
import httpx

from tests.support.embedded import OwnPostgres
from tests.support.probes import assert_no_crash_logged, warm
from tests.support.problems import assert_problem
from tests.support.servers import LiveServer
from tests.support.tenants import Tenant, make_tenant


@dataclass
class Outcome:
    """One POST of the load loop."""

    started: float
    seconds: float
    status: int | str
    item_id: str | None = None
    body: str = ""


async def post_items_until(
    http: httpx.AsyncClient, server: LiveServer, tenant: Tenant, worker: int, stop_at: float
) -> list[Outcome]:
    """POST items one after another until `stop_at`; record every outcome (a timeout is `"timeout"`)."""
    outcomes = []
    n = 0
    while time.monotonic() < stop_at:
        n += 1
        started = time.monotonic()
        try:
            response = await http.post(
                server.url("/items"),
                json={"title": f"w{worker}-{n}"},
                headers=tenant.headers,
                timeout=httpx.Timeout(5.0),
            )
        except httpx.TimeoutException:
            outcomes.append(Outcome(started, time.monotonic() - started, "timeout"))
            continue
        except httpx.TransportError as exc:
            outcomes.append(Outcome(started, time.monotonic() - started, type(exc).__name__))
            await asyncio.sleep(0.1)
            continue
        outcome = Outcome(started, time.monotonic() - started, response.status_code, body=response.text)
        if response.status_code == 201:
            outcome.item_id = response.json()["id"]
        elif response.status_code == 503:
            assert_problem(response, 503)
            await asyncio.sleep(0.05)  # as a client honouring Retry-After would, a little
        outcomes.append(outcome)
    return outcomes


async def all_item_ids(http: httpx.AsyncClient, server: LiveServer, tenant: Tenant) -> set[str]:
    """Every item id of `tenant`, read page by page (200 a page)."""
    ids: set[str] = set()
    offset = 0
    while True:
        response = await http.get(server.url("/items"), params={"limit": 200, "offset": offset}, headers=tenant.headers)
        assert response.status_code == 200, response.text
        page = response.json()
        ids.update(item["id"] for item in page["items"])
        offset += 200
        if offset >= page["total"]:
            return ids


async def postmaster_start_time(postgres: OwnPostgres) -> datetime:
    """When the dedicated PostgreSQL last started (proves a restart happened)."""
    connection = await asyncpg.connect(postgres.dsn)
    try:
        started: datetime = await connection.fetchval("SELECT pg_postmaster_start_time()")
        return started
    finally:
        await connection.close()


async def test_postgres_restarted_under_load_loses_no_acknowledged_write(
    http: httpx.AsyncClient, pg_app: LiveServer, postgres_running: OwnPostgres
) -> None:
    """PostgreSQL restarted twice under 8 concurrent writers: no 500, no hang, no lost acknowledged write.

    Every POST answers 201 or 503 problem+json within 5 s, writes succeed again after the restarts
    without restarting the app, and every item that got a 201 is there afterwards.
    """
    tenant = await make_tenant(http, "r", pg_app.base_url)
    await warm(http, [pg_app], tenant.token, times=1)
    booted_before = await postmaster_start_time(postgres_running)
    load_seconds = 6.0
    stop_at = time.monotonic() + load_seconds
    workers = [asyncio.create_task(post_items_until(http, pg_app, tenant, n, stop_at)) for n in range(8)]
    restarts_done = []
    for at in (1.5, 3.5):
        await asyncio.sleep(max(0.0, stop_at - load_seconds + at - time.monotonic()))
        await asyncio.to_thread(postgres_running.restart)
        restarts_done.append(time.monotonic())
    outcomes = [outcome for task in workers for outcome in await task]
    assert await postmaster_start_time(postgres_running) > booted_before, "PostgreSQL did not restart"

    statuses = {outcome.status for outcome in outcomes}
    bad = [o for o in outcomes if o.status not in (201, 503)]
    assert not bad, f"unexpected outcomes: {[(o.status, o.body[:200]) for o in bad[:5]]}"
    slowest = max(outcome.seconds for outcome in outcomes)
    assert slowest < 5.0, f"a request took {slowest:.2f}s"
    after_last_restart = [o for o in outcomes if o.status == 201 and o.started > restarts_done[-1]]
    assert after_last_restart, f"no write succeeded after the last restart (statuses {statuses})"

    response = await http.post(pg_app.url("/items"), json={"title": "after"}, headers=tenant.headers)
    assert response.status_code == 201, response.text
    acknowledged = {o.item_id for o in outcomes if o.item_id is not None}
    missing = acknowledged - await all_item_ids(http, pg_app, tenant)
    assert not missing, f"{len(missing)} of {len(acknowledged)} acknowledged items are gone"
    assert_no_crash_logged(pg_app)
