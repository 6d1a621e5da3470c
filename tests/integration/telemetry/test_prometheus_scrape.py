"""O2 against a real consumer: Prometheus scrapes `app run` and PromQL sees exactly the requests made.

Debian's `prometheus` (CI installs it; skipped where absent) runs on a free port with its own
config and TSDB in a temporary directory, scraping a dedicated `app run` every second — once with
one worker, once with two (multiprocess mode) — so no other test's traffic is in the numbers.
Prometheus asks for OpenMetrics first, so a scrape that fails to parse (a malformed family, a bad
exemplar) shows up here as the target being down, with Prometheus' own error text in the failure.
Exemplar storage is switched on, to check that the histogram's exemplars reach Prometheus and name
the traces of the requests made.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support.metrics import get_items_concurrently, statuses
from tests.support.processes import free_port, stop_process, wait_until_up
from tests.support.servers import LiveServer, app_env, serving
from tests.support.tenants import Tenant, make_tenant

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
REQUESTS = 120
POLL_SECONDS = 20.0
JOB = "cobreja"

pytestmark = pytest.mark.skipif(
    not Path(PROMETHEUS).is_file(), reason="Debian package prometheus not installed; .ci/run installs it"
)

CONFIG = """\
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: {job}
    metrics_path: /metrics
    static_configs:
      - targets: ["{target}"]
"""


@dataclass(frozen=True)
class Scraped:
    """An app scraped by Prometheus, and what one fresh tenant did to it."""

    app: LiveServer
    prometheus_url: str
    prometheus_log: Path
    tenant: Tenant
    trace_ids: frozenset[str]


@contextmanager
def running_prometheus(target: str, directory: Path) -> Iterator[tuple[str, Path]]:
    """Prometheus scraping `target` (host:port) every second, on a free port; its URL and log file."""
    config = directory / "prometheus.yml"
    config.write_text(CONFIG.format(job=JOB, target=target))
    port = free_port()
    log_path = directory / "prometheus.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={config}",
                f"--storage.tsdb.path={directory / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--enable-feature=exemplar-storage",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until_up(url + "/-/ready", process)
            yield url, log_path
        finally:
            stop_process(process)


@pytest.fixture(scope="module", params=[1, 2], ids=["1-worker", "2-workers"])
async def scraped(
    request: pytest.FixtureRequest, server_urls: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Scraped]:
    """`app run --workers 1|2` scraped by Prometheus, after REQUESTS GET /items by one fresh tenant."""
    directory = tmp_path_factory.mktemp(f"prometheus-{request.param}")
    with (
        serving(app_env(**server_urls), directory / "server.log", "--workers", str(request.param)) as app,
        running_prometheus(urlsplit(app.base_url).netloc, directory) as (prometheus_url, log),
    ):
        async with httpx.AsyncClient(base_url=app.base_url, timeout=10.0) as admin:
            tenant = await make_tenant(admin, prefix="prom")
        responses = await get_items_concurrently(app.base_url, tenant, REQUESTS)
        assert statuses(responses) == Counter({200: REQUESTS})
        trace_ids = frozenset(response.headers.get("x-trace-id", "") for response in responses) - {""}
        yield Scraped(app, prometheus_url, log, tenant, trace_ids)


def api(scraped: Scraped, endpoint: str, **params: str) -> Any:
    """GET Prometheus' HTTP API `endpoint` and return its `data` (after checking the call succeeded)."""
    response = httpx.get(f"{scraped.prometheus_url}/api/v1/{endpoint}", params=params, timeout=5.0)
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "success", body
    return body["data"]


def our_target(scraped: Scraped) -> dict[str, Any] | None:
    """Prometheus' view of the app's scrape target (health, lastError, ...), once it lists it."""
    targets = api(scraped, "targets", state="active")["activeTargets"]
    return next((target for target in targets if target["labels"].get("job") == JOB), None)


def scalar(scraped: Scraped, promql: str) -> float | None:
    """The value of a PromQL query returning one series (None while it returns nothing)."""
    result = api(scraped, "query", query=promql)["result"]
    assert len(result) <= 1, result
    return float(result[0]["value"][1]) if result else None


def poll(read: Callable[[], Any], done: Callable[[Any], bool]) -> Any:
    """Call `read` until `done` accepts its result or POLL_SECONDS pass; the last result."""
    deadline = time.monotonic() + POLL_SECONDS
    while True:
        value = read()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.25)


def why(scraped: Scraped) -> str:
    """Context for a failure: the target's health and last scrape error, and Prometheus' non-info log lines."""
    target = our_target(scraped) or {}
    noteworthy = [line for line in scraped.prometheus_log.read_text().splitlines() if "level=info" not in line]
    return (f"target health={target.get('health')!r} lastError={target.get('lastError')!r}\n"
            "prometheus log (warnings, errors):\n" + "\n".join(noteworthy[-20:]))


def test_prometheus_scrapes_the_app_without_errors(scraped: Scraped) -> None:
    """Prometheus reports the app's target healthy (`up` = 1, no scrape error) in its negotiated format.

    Prometheus prefers OpenMetrics; an exposition it cannot parse would leave the target down with
    the parser's message in `lastError`, which this test prints.
    """
    target = poll(lambda: our_target(scraped), lambda t: t is not None and t["health"] != "unknown")
    assert target is not None, why(scraped)
    assert target["health"] == "up", why(scraped)
    assert target["lastError"] == "", why(scraped)
    assert scalar(scraped, f'up{{job="{JOB}"}}') == 1.0, why(scraped)


def test_promql_counts_exactly_the_requests_made(scraped: Scraped) -> None:
    """`sum(http_requests_total{path="/items",method="GET",status_code="200"})` in Prometheus is exactly N.

    The app is dedicated to this test, so every GET /items it answered is one of ours: the route
    template label, the sum over workers and the scrape all line up with the client's count.
    """
    query = f'sum(http_requests_total{{job="{JOB}",path="/items",method="GET",status_code="200"}})'
    value = poll(lambda: scalar(scraped, query), lambda v: v == REQUESTS)
    assert value == REQUESTS, f"{query} = {value}, want {REQUESTS}\n{why(scraped)}"


def test_promql_counts_the_tenants_requests(scraped: Scraped) -> None:
    """`tenant_requests_total{tenant="<fresh slug>"}` in Prometheus is exactly N: per-tenant counts survive scraping."""
    query = f'sum(tenant_requests_total{{job="{JOB}",tenant="{scraped.tenant.slug}"}})'
    value = poll(lambda: scalar(scraped, query), lambda v: v == REQUESTS)
    assert value == REQUESTS, f"{query} = {value}, want {REQUESTS}\n{why(scraped)}"


def test_prometheus_stores_exemplars_naming_our_traces(scraped: Scraped) -> None:
    """The request histogram's exemplars reach Prometheus, each carrying the trace id of one of our requests.

    Prometheus keeps exemplars only from OpenMetrics, so this also proves the scrapes negotiated
    OpenMetrics; and that the exemplars are well-formed enough to store, with the trace id the
    client got back in `X-Trace-Id` (the link from a slow bucket to its trace).
    """
    assert scraped.trace_ids, "responses carry no X-Trace-Id (tracing off?), so no exemplars can be expected"
    query = f'http_request_duration_seconds_bucket{{job="{JOB}",path="/items",method="GET"}}'

    def exemplar_trace_ids() -> set[str]:
        now = time.time()
        series = api(scraped, "query_exemplars", query=query, start=str(now - 300), end=str(now + 60))
        return {exemplar["labels"].get("trace_id", "") for entry in series for exemplar in entry["exemplars"]}

    seen = poll(exemplar_trace_ids, bool)
    assert seen, f"no exemplars stored for {query}\n{why(scraped)}"
    assert seen <= scraped.trace_ids, f"exemplar trace ids not from our requests: {seen - scraped.trace_ids}"
