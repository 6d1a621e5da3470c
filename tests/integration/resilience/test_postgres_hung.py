"""PostgreSQL hung (SIGSTOP), R1: answers within the budget, then within milliseconds, and recovery by itself.

`app run` (default DB_REQUEST_BUDGET_SECONDS=2) runs over a PostgreSQL of this module's own; the
test stops every process of that server with SIGSTOP (the postmaster and its backends: connections
are accepted by the kernel and never answered, statements never finish), then SIGCONTs them.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from contextlib import suppress

import httpx
import psutil
import pytest

from tests.support.embedded import OwnPostgres
from tests.support.probes import assert_no_crash_logged, warm
from tests.support.problems import assert_problem
from tests.support.servers import LiveServer
from tests.support.tenants import ADMIN_HEADERS, make_tenant

BUDGET_SECONDS = 2.0
SLACK_SECONDS = 0.5
"""HTTP, scheduling and the probe's own timer on a shared machine."""
KNOWN_DOWN_SECONDS = 0.1
RECOVERY_SECONDS = 5.0

pytestmark = pytest.mark.slow


def _server_processes(postgres: OwnPostgres) -> list[psutil.Process]:
    postmaster = psutil.Process(int((postgres.pgdata / "postmaster.pid").read_text().split()[0]))
    return [postmaster, *postmaster.children(recursive=True)]


@pytest.fixture
def hung(own_postgres: OwnPostgres) -> Iterator[list[psutil.Process]]:
    """A way to hang the module's PostgreSQL: its processes, SIGCONTed after the test whatever happens."""
    processes: list[psutil.Process] = []
    try:
        yield processes
    finally:
        for process in processes:
            with suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGCONT)


async def _timed(http: httpx.AsyncClient, method: str, url: str, **kwargs: object) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await http.request(method, url, **kwargs)  # type: ignore[arg-type]
    return response, time.monotonic() - started


async def test_hung_postgres_costs_the_budget_then_milliseconds_and_recovers(
    http: httpx.AsyncClient, pg_app: LiveServer, own_postgres: OwnPostgres, hung: list[psutil.Process]
) -> None:
    """SIGSTOPped PostgreSQL: the first requests 503 within the 2 s budget, later ones within 100 ms; SIGCONT heals.

    Concurrent reads, writes and admin calls in flight when it hangs all get 503 problem+json
    within the budget (not the 10 s statement timeout); once the service knows, every database
    request is refused within 100 ms and /health/ready says 503 within 2 s; liveness stays 200.
    After SIGCONT the same process serves reads and writes again within a few seconds, by itself.
    """
    tenant = await make_tenant(http, "hung", pg_app.base_url)
    await warm(http, [pg_app], tenant.token)
    hung.extend(_server_processes(own_postgres))
    for process in hung:
        os.kill(process.pid, signal.SIGSTOP)

    calls = [("GET", "/items", tenant.headers, None), ("POST", "/items", tenant.headers, {"title": "while hung"}),
             ("GET", "/admin/tenants", ADMIN_HEADERS, None)]
    first = await asyncio.gather(*(_timed(http, m, pg_app.url(p), headers=h, json=b) for m, p, h, b in calls * 2))
    for response, seconds in first:
        assert seconds < BUDGET_SECONDS + SLACK_SECONDS, f"{response.request.method} took {seconds:.2f}s"
        assert_problem(response, 503)
        assert response.headers.get("Retry-After")

    for _ in range(5):
        for method, path, headers, body in calls:
            response, seconds = await _timed(http, method, pg_app.url(path), headers=headers, json=body)
            assert_problem(response, 503)
            assert seconds < KNOWN_DOWN_SECONDS, f"{method} {path} took {seconds * 1000:.0f} ms while known down"
    ready, seconds = await _timed(http, "GET", pg_app.url("/health/ready"))
    assert ready.status_code == 503
    assert seconds < BUDGET_SECONDS
    assert (await http.get(pg_app.url("/health"))).status_code == 200

    for process in hung:
        os.kill(process.pid, signal.SIGCONT)
    started = time.monotonic()
    while (await http.get(pg_app.url("/items"), headers=tenant.headers)).status_code != 200:
        assert time.monotonic() - started < RECOVERY_SECONDS, "the service did not recover after SIGCONT"
        await asyncio.sleep(0.1)
    created = await http.post(pg_app.url("/items"), json={"title": "after"}, headers=tenant.headers)
    assert created.status_code == 201, created.text
    assert (await http.get(pg_app.url("/health/ready"))).status_code == 200
    assert_no_crash_logged(pg_app)
