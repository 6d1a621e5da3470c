"""O6 in a real browser: the monitoring dashboard, drawn by headless Chromium.

`test_dashboard_shows_real_traffic` starts a real `app run` (the session's embedded PostgreSQL and
Valkey), sends it traffic with errors, and opens `/monitoring/` as an operator would (HTTP basic
auth with MONITORING_PASSWORD). `test_dashboard_empty_and_failing` serves the same page files with
an empty document, then a failing API, through request interception, to check the empty states and
the error banner without a server.

Both need Debian's `chromium` (driven by Playwright through `executable_path`; no browser download)
and skip with the reason when it or Playwright is missing.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import msgspec
import pytest

from app.monitoring import document as doc
from tests.support.browser import NEEDS_BROWSER, chromium
from tests.support.servers import LiveServer, app_env, serving
from tests.support.tenants import Tenant, make_tenant

if TYPE_CHECKING:
    from playwright.async_api import Browser, ConsoleMessage, Page, Request, Route, ViewportSize

STATIC_DIR = Path(doc.__file__).parent / "static"
PASSWORD = "e2e-monitoring-password-0123"
NO_DATA = "No data yet"
VIEWPORT: ViewportSize = {"width": 1440, "height": 900}
LOAD_TIMEOUT_MS = 15_000
REFRESH_WAIT_MS = 8_000
"""The page refreshes every 5 s; a refresh must have happened within this."""
SETTLE_SECONDS = 15.0
"""How long the recorded traffic may take to reach the document (workers flush every second)."""

PANELS_WITH_DATA = (
    "headline", "response-times", "slowest", "endpoints", "errors-per-hour", "error-types", "system",
    "redis", "postgres", "tenants", "health", "background", "totals",
)
"""Panels that must show figures once the server has answered the traffic below."""
CHARTS = ("response-chart", "errors-chart")

pytestmark = NEEDS_BROWSER

# What a canvas holds: its size, and how many of its pixels are saturated (a series, not axes or grid).
CANVAS_INK = """(id) => {
  const canvas = document.querySelector(`#${id} canvas`);
  if (!canvas) return null;
  const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let coloured = 0;
  const colours = new Set();
  for (let i = 0; i < pixels.length; i += 4) {
    const [r, g, b, a] = [pixels[i], pixels[i + 1], pixels[i + 2], pixels[i + 3]];
    colours.add(`${r},${g},${b},${a}`);
    if (a > 0 && Math.max(r, g, b) - Math.min(r, g, b) > 60) coloured += 1;
  }
  return {width: canvas.width, height: canvas.height, coloured, colours: colours.size,
          canvases: document.querySelectorAll(`#${id} canvas`).length};
}"""


# ---------------------------------------------------------------------------------------------
# the browser, and what a page did


@dataclass
class PageLog:
    """What a page reported while the test used it: JavaScript errors and every URL it requested."""

    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def watch(self, page: Page) -> None:
        """Collect uncaught exceptions, console errors and requests of `page`."""
        page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))
        page.on("console", self._console)
        page.on("request", self._request)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text}")

    def _request(self, request: Request) -> None:
        self.requests.append(request.url)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Headless Debian Chromium, driven by Playwright."""
    async with chromium() as launched:
        yield launched


async def canvas_ink(page: Page, chart_id: str) -> dict[str, int]:
    """Size and ink of the chart's canvas (fails when the chart drew no canvas)."""
    ink: dict[str, int] | None = await page.evaluate(CANVAS_INK, chart_id)
    assert ink is not None, f"#{chart_id} has no canvas: the chart was not drawn"
    return ink


async def panel_text(page: Page, name: str) -> str:
    """The visible text of the card `data-panel=name`."""
    panel = page.locator(f'[data-panel="{name}"]')
    assert await panel.is_visible(), f"panel {name} is not visible"
    return await panel.inner_text()


# ---------------------------------------------------------------------------------------------
# the real app


@pytest.fixture(scope="module")
def dashboard_server(server_urls: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """`app run` with a monitoring password, and every request counted as slow (SLOW_REQUEST_MS=1)."""
    env = app_env(**server_urls, MONITORING_PASSWORD=PASSWORD, SLOW_REQUEST_MS="1")
    with serving(env, tmp_path_factory.mktemp("dashboard") / "server.log") as server:
        yield server


async def send_traffic(http: httpx.AsyncClient, server: LiveServer) -> Tenant:
    """A new tenant, then a few dozen item requests: successes, 404s, validation failures, bad tokens."""
    tenant = await make_tenant(http, prefix="dash", base_url=server.base_url)
    items = server.url("/items")
    created = []
    for n in range(12):
        response = await http.post(items, json={"title": f"dashboard item {n}"}, headers=tenant.headers)
        assert response.status_code == 201, response.text
        created.append(response.json()["id"])
    for item_id in created[:8]:
        assert (await http.get(f"{items}/{item_id}", headers=tenant.headers)).status_code == 200
    for _ in range(4):
        assert (await http.get(items, headers=tenant.headers)).status_code == 200
        missing = await http.get(f"{items}/{uuid.uuid4()}", headers=tenant.headers)
        assert missing.status_code == 404, missing.text
        invalid = await http.post(items, json={"title": ""}, headers=tenant.headers)
        assert invalid.status_code in {400, 422}, invalid.text
        refused = await http.get(items, headers={"X-TOKEN": "not-a-token"})
        assert refused.status_code == 401, refused.text
    return tenant


async def wait_for_document(http: httpx.AsyncClient, server: LiveServer, tenant: Tenant) -> dict[str, Any]:
    """Poll `/monitoring/api/metrics` until it shows the traffic (slow requests, errors, the tenant)."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        response = await http.get(server.url("/monitoring/api/metrics"), auth=("ops", PASSWORD))
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        busiest = {entry["slug"] for entry in body["tenants"]["busiest"]}
        ready = (body["slowest"] and body["error_types"] and body["response_times"] and body["totals"]["client_errors"]
                 and tenant.slug in busiest and body["health"]["history"] and body["background"]["workers"])
        if ready:
            return body
        if time.monotonic() > deadline:
            pytest.fail(f"the document did not show the traffic within {SETTLE_SECONDS}s: {body}")
        await asyncio.sleep(0.25)


async def test_dashboard_shows_real_traffic(
    dashboard_server: LiveServer, browser: Browser, tmp_path: Path
) -> None:
    """After real traffic, every panel of `/monitoring/` shows figures, both charts drew, and the page is clean.

    Clean: no JavaScript error or console error (a CSP violation would be one), nothing requested
    outside the app's origin, and the page refreshes in place (one canvas per chart after a refresh).
    """
    server = dashboard_server
    async with httpx.AsyncClient(timeout=10.0) as http:
        tenant = await send_traffic(http, server)
        await wait_for_document(http, server, tenant)

    context = await browser.new_context(viewport=VIEWPORT, http_credentials={"username": "ops", "password": PASSWORD})
    page = await context.new_page()
    log = PageLog()
    log.watch(page)
    response = await page.goto(server.url("/monitoring/"))
    assert response is not None
    assert response.status == 200
    await page.wait_for_selector("body[data-loaded]", timeout=LOAD_TIMEOUT_MS)

    for name in PANELS_WITH_DATA:
        text = await panel_text(page, name)
        assert NO_DATA not in text, f"panel {name} still says {NO_DATA!r}:\n{text}"
    assert "req/s" in await panel_text(page, "headline")
    assert tenant.slug in await panel_text(page, "tenants")
    assert "/items" in await panel_text(page, "endpoints")
    assert await page.locator('[data-panel="slowest"] tbody tr').count() >= 1
    assert await page.locator('[data-panel="error-types"] tbody tr').count() >= 1
    assert await page.locator('[data-panel="background"] tbody tr').count() >= 1  # a worker, at least
    assert "Up" in await panel_text(page, "redis")
    assert "Up" in await panel_text(page, "postgres")
    assert await page.locator("#banner").is_hidden()

    for chart in CHARTS:
        ink = await canvas_ink(page, chart)
        assert ink["width"] > 300, (chart, ink)
        assert ink["colours"] > 1, f"{chart} is one colour: {ink}"
        assert ink["coloured"] > 20, f"{chart} drew no series: {ink}"

    async with page.expect_response(lambda r: r.url.endswith("/monitoring/api/metrics"), timeout=REFRESH_WAIT_MS):
        pass  # the page asks again on its own
    await page.wait_for_timeout(300)
    for chart in CHARTS:
        assert (await canvas_ink(page, chart))["canvases"] == 1, f"{chart} was drawn again instead of updated"

    screenshot = tmp_path / "dashboard.png"
    await page.screenshot(path=str(screenshot), full_page=True)
    print(f"dashboard screenshot: {screenshot}")
    await context.close()

    assert log.errors == [], log.errors
    outside = [url for url in log.requests if not url.startswith(server.base_url + "/") and not url.startswith("data:")]
    assert outside == [], f"the page requested URLs outside the app: {outside}"


# ---------------------------------------------------------------------------------------------
# the page alone, on an intercepted origin

ORIGIN = "http://dashboard.test"


def empty_document() -> bytes:
    """A document of a service that has answered nothing yet, with Redis and PostgreSQL down."""
    now = time.time()
    document = doc.MonitoringDocument(
        service="cobreja", version="0.0.0", answered_by="test:1",
        generated_at=now, recent_seconds=300, slow_threshold_ms=500.0, recording=False,
        summary=doc.Summary(requests_per_second=0.0, avg_response_ms=None, p95_response_ms=None, in_flight=0,
                            error_rate_percent=None, uptime_seconds=3.0, db_queries=None, cache_hit_rate_percent=None),
        totals=doc.Totals(day="2026-01-01", requests=0, server_errors=0, client_errors=0, slow_requests=0,
                          by_method={}, by_status={}),
        response_times=[], slowest=[], endpoints=[], errors_per_hour=[], error_types=[],
        system=doc.SystemUsage(cpu_percent=91.0, memory_percent=10.0, disk_percent=20.0, warning_percent=80.0),
        redis=doc.RedisStats(up=False, error="Connection refused"),
        postgres=doc.PostgresStats(up=False, error="timeout after 2 s"),
        tenants=doc.Tenants(total=None, by_status={}, busiest=[]),
        health=doc.Health(status=None, uptime_seconds=3.0, availability_percent=None, history=[]),
        comparison=[], background=doc.Background(migration_runs=[], outbox_backlog=None, workers=[]),
    )
    return msgspec.json.encode(document)


async def test_dashboard_empty_and_failing(browser: Browser) -> None:
    """With nothing recorded the panels say "No data yet" (no blank boxes, no error); a failing API shows a banner.

    Also: a resource above `warning_percent` is flagged, the charts follow the window's width, and the
    last data stays on screen while the API fails. The page's own files are served as they are; only
    the origin and the document are made up.
    """
    api = {"status": 200}
    body = empty_document()

    async def answer(route: Route) -> None:
        path = route.request.url.removeprefix(ORIGIN)
        if path == "/monitoring/":
            await route.fulfill(path=STATIC_DIR / "index.html", content_type="text/html")
        elif path.startswith("/monitoring/static/"):
            await route.fulfill(path=STATIC_DIR / path.removeprefix("/monitoring/static/"))
        elif path == "/monitoring/api/metrics" and api["status"] == 200:
            await route.fulfill(body=body, content_type="application/json")
        elif path == "/monitoring/api/metrics":
            await route.fulfill(status=api["status"], body="unavailable")
        else:
            await route.abort()

    context = await browser.new_context(viewport=VIEWPORT)
    await context.route("**/*", answer)
    page = await context.new_page()
    log = PageLog()
    log.watch(page)
    await page.goto(f"{ORIGIN}/monitoring/")
    await page.wait_for_selector("body[data-loaded]", timeout=LOAD_TIMEOUT_MS)

    for name in ("response-times", "errors-per-hour", "slowest", "endpoints", "error-types", "tenants", "health",
                 "comparison", "background"):
        assert NO_DATA in await panel_text(page, name), f"panel {name} has no empty state"
    assert "Down" in await panel_text(page, "redis")
    assert "timeout after 2 s" in await panel_text(page, "postgres")
    assert "above 80 %" in await panel_text(page, "system")
    assert await page.locator("#recording").is_visible()
    assert log.errors == [], log.errors

    wide = (await canvas_ink(page, "response-chart"))["width"]
    await page.set_viewport_size({"width": 900, "height": 900})
    narrower = f"document.querySelector('#response-chart canvas').width < {wide}"
    await page.wait_for_function(narrower, timeout=LOAD_TIMEOUT_MS)  # the chart follows the window

    api["status"] = 503
    banner = page.locator("#banner")
    await banner.wait_for(state="visible", timeout=REFRESH_WAIT_MS)
    assert "503" in await banner.inner_text()
    assert NO_DATA in await panel_text(page, "slowest"), "the last data stays on screen"
    await context.close()
    assert all(error.startswith("console: Failed to load resource") for error in log.errors), log.errors
    assert all(url.startswith(ORIGIN + "/") for url in log.requests), log.requests
