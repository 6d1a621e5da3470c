"""O2 with several workers: `app run --workers 2` counts every request once, whichever worker answers `/metrics`.

A real two-worker server (its own process and port, the session's PostgreSQL and Valkey). uvicorn's
workers share one listening socket, so the kernel hands fresh connections to either of them. `app
run` puts prometheus-client in multiprocess mode (a temporary PROMETHEUS_MULTIPROC_DIR, one
`counter_<pid>.db` per worker); the tests read those per-worker files to prove both workers served,
then check that every scrape — answered by one worker or the other — reports the fleet-wide sum.

Counting happens just after the response is sent, and each worker hands its counts to its file
every second (app.telemetry.buffered; the worker answering a scrape does it first), so the tests
first wait (briefly) for the total to reach N, then require every later scrape to show exactly
N — no more (double counting), no less (a worker's file ignored).
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from prometheus_client.multiprocess import MultiProcessCollector

from tests.support.metrics import CLOSE, get_items_concurrently, sample_value, scrape, statuses
from tests.support.servers import LiveServer, app_env, serving
from tests.support.tenants import make_tenant

REQUESTS = 200
SCRAPES = 12
SETTLE_SECONDS = 5.0
ITEMS_OK = {"method": "GET", "path": "/items", "status_code": "200"}


@pytest.fixture(scope="module")
def two_workers(server_urls: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """`python -m app run --workers 2` on a free port, for this module (SIGTERM at the end)."""
    log = tmp_path_factory.mktemp("workers") / "server.log"
    with serving(app_env(**server_urls), log, "--workers", "2") as server:
        wait_until_every_worker_serves(server)
        yield server


HEALTH_OK = {"method": "GET", "path": "/health", "status_code": "200"}
WORKERS_READY_SECONDS = 30.0


def wait_until_every_worker_serves(server: LiveServer) -> None:
    """Knock on `/health` with fresh connections until both workers' own files count an answer.

    `serving` returns once one worker answers; on a busy machine the other may still be starting,
    and a test would then see every request go to the first.
    """
    deadline = time.monotonic() + WORKERS_READY_SECONDS
    while time.monotonic() < deadline:
        for _ in range(10):
            httpx.get(server.base_url + "/health", headers=CLOSE, timeout=5.0)  # a new connection each time
        time.sleep(1.2)  # each worker hands its counts to its file every second
        answered = {pid for pid, count in served_per_pid(metrics_dir_of(server), HEALTH_OK).items() if count}
        if len(answered) >= 2:
            return
    raise AssertionError(f"both workers did not answer within {WORKERS_READY_SECONDS}s")


async def wait_for_total(http: httpx.AsyncClient, name: str, labels: dict[str, str], expected: float) -> float | None:
    """Scrape until `name{labels}` reaches `expected` or `SETTLE_SECONDS` pass; the last value seen."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        value = sample_value(await scrape(http, headers=CLOSE), name, labels)
        if value == expected or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.05)


def metrics_dir_of(server: LiveServer) -> Path:
    """The PROMETHEUS_MULTIPROC_DIR `app run` gave its workers (read from the workers' environment)."""
    directories = {child.environ().get("PROMETHEUS_MULTIPROC_DIR") for child in workers_of(server)}
    assert len(directories) == 1, f"workers disagree on PROMETHEUS_MULTIPROC_DIR: {directories}"
    (directory,) = directories
    assert directory, "`app run --workers 2` did not set PROMETHEUS_MULTIPROC_DIR for its workers"
    return Path(directory)


def workers_of(server: LiveServer) -> list[psutil.Process]:
    """The worker processes uvicorn spawned under the `app run` process."""
    return psutil.Process(server.process.pid).children()


def items_served_per_pid(directory: Path) -> dict[int, float]:
    """GET /items 200s counted in each process's own `counter_<pid>.db` (read one file at a time)."""
    return served_per_pid(directory, ITEMS_OK)


def served_per_pid(directory: Path, labels: dict[str, str]) -> dict[int, float]:
    """`http_requests_total{labels}` in each process's own `counter_<pid>.db` (read one file at a time)."""
    served = {}
    for path in sorted(directory.glob("counter_*.db")):
        pid = int(path.stem.removeprefix("counter_"))
        served[pid] = sample_value(MultiProcessCollector.merge([str(path)]), "http_requests_total", labels) or 0.0
    return served


async def test_every_scrape_counts_all_workers_requests_exactly_once(two_workers: LiveServer) -> None:
    """N requests spread over both workers show as exactly N on every scrape, in both exposition formats.

    Proves multiprocess mode is on (two workers each wrote their own counts), that `/metrics` sums
    every worker's file (not just the answering worker's), and that nothing is counted twice: the
    request counter, the request histogram's count and the tenant's counter all equal N.
    """
    async with httpx.AsyncClient(base_url=two_workers.base_url, timeout=10.0) as http:
        tenant = await make_tenant(http, prefix="mw")
        responses = await get_items_concurrently(two_workers.base_url, tenant, REQUESTS)
        assert statuses(responses) == Counter({200: REQUESTS})

        assert await wait_for_total(http, "http_requests_total", ITEMS_OK, REQUESTS) == REQUESTS
        served = items_served_per_pid(metrics_dir_of(two_workers))
        busy = {pid for pid, count in served.items() if count > 0}
        assert len(busy) >= 2, f"expected both workers to serve GET /items, got per-pid counts {served}"
        assert busy <= {worker.pid for worker in workers_of(two_workers)}, served

        expectations = [
            ("http_requests_total", ITEMS_OK),
            ("http_request_duration_seconds_count", {"method": "GET", "path": "/items"}),
            ("tenant_requests_total", {"tenant": tenant.slug}),
        ]
        for attempt in range(SCRAPES):
            openmetrics = attempt % 2 == 1
            families = await scrape(http, openmetrics, headers=CLOSE)
            for name, labels in expectations:
                value = sample_value(families, name, labels)
                assert value == REQUESTS, (
                    f"scrape {attempt} ({openmetrics=}): {name}{labels} = {value}, want {REQUESTS}"
                )
    assert sum(items_served_per_pid(metrics_dir_of(two_workers)).values()) == REQUESTS


async def test_auth_successes_are_summed_over_workers(two_workers: LiveServer) -> None:
    """`auth_success_total` (a counter without labels) grows by exactly the number of authenticated requests.

    Unlabelled counters exist from import time in every worker, so this checks the merge of values
    each worker created before serving, not only label children created on demand.
    """
    async with httpx.AsyncClient(base_url=two_workers.base_url, timeout=10.0) as http:
        tenant = await make_tenant(http, prefix="ma")
        before = sample_value(await scrape(http, headers=CLOSE), "auth_success_total", {})
        assert before is not None, "auth_success_total missing from /metrics"
        responses = await get_items_concurrently(two_workers.base_url, tenant, REQUESTS)
        assert statuses(responses) == Counter({200: REQUESTS})
        after = await wait_for_total(http, "auth_success_total", {}, before + REQUESTS)
    assert after == before + REQUESTS


def test_metrics_directory_is_removed_when_the_server_stops(
    server_urls: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The temporary PROMETHEUS_MULTIPROC_DIR of `app run --workers 2` is gone after a clean SIGTERM stop.

    A stale directory would leak disk and, if reused, resurrect old counts; the parent removes it
    at exit, which only happens when SIGTERM ends the supervisor normally.
    """
    log = tmp_path_factory.mktemp("workers-stop") / "server.log"
    with serving(app_env(**server_urls), log, "--workers", "2") as server:
        directory = metrics_dir_of(server)
        assert directory.is_dir()
        assert list(directory.glob("counter_*.db")), "workers wrote no counter files"
        server.process.send_signal(signal.SIGTERM)
        returncode = server.process.wait(timeout=30)
    assert returncode in (0, -signal.SIGTERM), log.read_text()
    assert "Traceback" not in log.read_text()
    assert not directory.exists(), f"{directory} left behind after the server stopped"
