"""`/monitoring/...` and `/health/detailed`: who may read them, and what the document says after known traffic.

The known-traffic tests run a real `app run` (one worker, then two) on a Redis database of its
own, so the figures are the test's requests and nothing else. Every request is slow for them
(`SLOW_REQUEST_MS=0.001`), so the slowest-requests panel fills too.
"""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.dashboard import redis_db
from tests.support.metrics import get_items_concurrently
from tests.support.servers import LiveServer, app_env, serving
from tests.support.tenants import ADMIN_HEADERS, MONITORING_PASSWORD, Tenant, make_tenant

PROTECTED = ["/monitoring/", "/monitoring/api/metrics", "/monitoring/static/dashboard.js", "/health/detailed"]
FLUSHED_WITHIN_SECONDS = 10.0


def basic(password: str, user: str = "operator") -> dict[str, str]:
    """An Authorization header for HTTP basic auth."""
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


REFUSED = {
    "no credentials": {},
    "wrong admin key": {"X-ADMIN-KEY": "not-the-key"},
    "wrong password": basic("not-the-password"),
    "empty password": basic(""),
    "not base64": {"Authorization": "Basic %%%"},
    "other scheme": {"Authorization": f"Bearer {MONITORING_PASSWORD}"},
}


@pytest.mark.parametrize("path", PROTECTED)
@pytest.mark.parametrize("case", list(REFUSED))
async def test_protected_endpoints_refuse_without_the_key_or_password(
    client: httpx.AsyncClient, path: str, case: str
) -> None:
    """No, wrong or malformed credentials → 401 problem+json with a basic-auth challenge (the browser asks)."""
    response = await client.get(path, headers=REFUSED[case])
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"].startswith('Basic realm="Cobreja monitoring"')


@pytest.mark.parametrize("path", PROTECTED)
@pytest.mark.parametrize("credentials", [ADMIN_HEADERS, basic(MONITORING_PASSWORD), basic(MONITORING_PASSWORD, "")],
                         ids=["admin key", "password", "password, empty user"])
async def test_protected_endpoints_accept_the_key_or_password(
    client: httpx.AsyncClient, path: str, credentials: dict[str, str]
) -> None:
    """The admin key or the monitoring password (any user name) → 200."""
    response = await client.get(path, headers=credentials)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("path", ["/health", "/health/ready"])
async def test_liveness_and_readiness_stay_public(client: httpx.AsyncClient, path: str) -> None:
    """Load balancers call these without credentials."""
    assert (await client.get(path)).status_code == 200


async def test_the_page_loads_nothing_from_elsewhere(client: httpx.AsyncClient) -> None:
    """The page is HTML whose policy allows only the app's own origin, and `/monitoring` leads to `/monitoring/`."""
    page = await client.get("/monitoring/", headers=ADMIN_HEADERS)
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    assert "http://" not in page.text
    assert "https://" not in page.text
    moved = await client.get("/monitoring", headers=ADMIN_HEADERS)
    assert moved.status_code in {301, 302, 307, 308}
    assert moved.headers["location"].endswith("/monitoring/")


async def test_the_document_is_in_the_openapi_schema(client: httpx.AsyncClient) -> None:
    """`/monitoring/api/metrics` is documented with the document's schema and both ways to authenticate."""
    schema = (await client.get("/schema/openapi.json")).json()
    operation = schema["paths"]["/monitoring/api/metrics"]["get"]
    reference = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert reference.endswith("MonitoringDocument")
    assert {name for entry in operation["security"] for name in entry} == {"AdminKey", "MonitoringPassword"}
    assert "MonitoringPassword" in schema["components"]["securitySchemes"]


async def document(http: httpx.AsyncClient) -> dict[str, Any]:
    """The monitoring document, read with the admin key."""
    response = await http.get("/monitoring/api/metrics", headers=ADMIN_HEADERS)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def document_once_counted(http: httpx.AsyncClient, requests: int) -> dict[str, Any]:
    """The document once today's total reaches `requests` (each worker flushes about every second)."""
    deadline = time.monotonic() + FLUSHED_WITHIN_SECONDS
    while True:
        body = await document(http)
        if body["totals"]["requests"] >= requests or time.monotonic() > deadline:
            return body
        await asyncio.sleep(0.2)


async def settled_document(http: httpx.AsyncClient) -> dict[str, Any]:
    """The document once two reads, more than a flush apart, count the same requests (nothing left unflushed)."""
    previous = await document(http)
    while True:
        await asyncio.sleep(1.2)
        current = await document(http)
        if current["totals"]["requests"] == previous["totals"]["requests"]:
            return current
        previous = current


@pytest.fixture(scope="module")
def one_worker(server_urls: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """`app run` with aggregates of its own (Redis database 11) and every request counted as slow."""
    log = tmp_path_factory.mktemp("dashboard") / "server.log"
    env = app_env(**{**server_urls, "REDIS_URL": redis_db(server_urls["REDIS_URL"], 11)}, SLOW_REQUEST_MS="0.001")
    with serving(env, log) as server:
        yield server


async def known_traffic(http: httpx.AsyncClient, tenant: Tenant) -> list[httpx.Response]:
    """Ten requests: reads, a write, bad input, missing items, bad tokens and a path no route matches."""
    sent = [await http.get("/items", headers=tenant.headers) for _ in range(3)]
    sent.append(await http.post("/items", json={"title": "first"}, headers=tenant.headers))
    sent.append(await http.post("/items", json={"title": 5}, headers=tenant.headers))
    sent += [await http.get(f"/items/{uuid.uuid4()}", headers=tenant.headers) for _ in range(2)]
    sent += [await http.get("/items", headers={"X-TOKEN": "x" * 43}) for _ in range(2)]
    sent.append(await http.get("/no/such/path/12345"))
    return sent


async def test_the_document_counts_a_known_sequence(one_worker: LiveServer) -> None:
    """After known requests the document's totals, endpoints, errors, slowest and tenants show exactly them."""
    async with httpx.AsyncClient(base_url=one_worker.base_url, timeout=10) as http:
        tenant = await make_tenant(http)
        before = await settled_document(http)  # the start-up's /health and the tenant's creation counted
        sent = await known_traffic(http, tenant)
        after = await document_once_counted(http, before["totals"]["requests"] + len(sent))
    observed = Counter(str(response.status_code) for response in sent)
    assert observed == {"200": 3, "201": 1, "400": 1, "404": 3, "401": 2}
    totals = after["totals"]
    assert totals["requests"] - before["totals"]["requests"] == 10
    assert Counter(totals["by_status"]) - Counter(before["totals"]["by_status"]) == observed
    assert totals["by_method"]["POST"] - before["totals"]["by_method"]["POST"] == 2
    assert totals["client_errors"] - before["totals"]["client_errors"] == 6
    assert totals["server_errors"] == 0
    assert after["summary"]["error_rate_percent"] == 0.0
    assert totals["slow_requests"] - before["totals"]["slow_requests"] == 10
    assert_endpoints_and_errors(after)
    assert_slowest(after, tenant)
    assert {t["slug"]: t["requests"] for t in after["tenants"]["busiest"]}[tenant.slug] == 7
    assert after["tenants"]["by_status"]["active"] >= 1
    assert_recent_figures(after)
    assert_live_panels(after)


def assert_endpoints_and_errors(after: dict[str, Any]) -> None:
    """Endpoints by route template (unmatched paths as one), exception types with their status class."""
    endpoints = {(e["method"], e["path"]): e for e in after["endpoints"]}
    assert endpoints[("GET", "/items")]["count"] == 5  # three reads and two bad tokens
    assert endpoints[("GET", "/items/{item_id}")]["count"] == 2
    assert endpoints[("GET", "<unmatched>")]["count"] == 1
    assert all(e["avg_ms"] > 0 for e in after["endpoints"])
    error_types = {(e["type"], e["status_class"]): e["count"] for e in after["error_types"]}
    assert error_types[("ItemNotFound", "4xx")] == 2
    assert error_types[("TokenRequired", "4xx")] == 2


def assert_slowest(after: dict[str, Any], tenant: Tenant) -> None:
    """Every request was slow (threshold 0.001 ms): the ten slowest are listed, by template, slowest first."""
    slowest = after["slowest"]
    assert len(slowest) == 10
    assert after["slow_threshold_ms"] == 0.001
    assert {s["path"] for s in slowest} <= {"/items", "/items/{item_id}", "<unmatched>", "/admin/tenants", "/health"}
    assert slowest == sorted(slowest, key=lambda s: s["duration_ms"], reverse=True)
    assert {s["tenant"] for s in slowest if s["path"] == "/items/{item_id}"} <= {tenant.slug}


def assert_recent_figures(after: dict[str, Any]) -> None:
    """The last minutes' figures (chart points, rates, response times) and today's statements are there."""
    assert sum(p["count"] for p in after["response_times"]) >= 10
    assert after["summary"]["avg_response_ms"] > 0
    assert after["summary"]["p95_response_ms"] > 0
    assert after["summary"]["requests_per_second"] > 0
    assert after["errors_per_hour"][-1]["client_errors"] >= 6
    assert after["summary"]["db_queries"] > 0


def assert_live_panels(after: dict[str, Any]) -> None:
    """The panels read live (Redis, PostgreSQL, health, background work) have data, and say who answered."""
    assert after["redis"]["up"]
    assert after["redis"]["used_memory_bytes"] > 0
    assert after["postgres"]["up"]
    assert after["postgres"]["database_size_bytes"] > 0
    assert after["postgres"]["commits"] > 0
    assert after["postgres"]["connections"] >= 1
    assert after["health"]["history"]
    assert after["health"]["status"] == "healthy"
    (worker,) = after["background"]["workers"]
    assert worker["listener_connected"]
    assert worker["redis_trusted"]
    assert after["background"]["outbox_backlog"] == 0
    assert after["answered_by"].endswith(f":{worker['pid']}")
    assert after["version"]


@pytest.fixture(scope="module")
def two_workers(server_urls: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """`app run --workers 2` with aggregates of its own (Redis database 12)."""
    log = tmp_path_factory.mktemp("dashboard-workers") / "server.log"
    env = app_env(**{**server_urls, "REDIS_URL": redis_db(server_urls["REDIS_URL"], 12)})
    with serving(env, log, "--workers", "2") as server:
        yield server


async def test_two_workers_traffic_adds_up(two_workers: LiveServer) -> None:
    """200 requests spread over two workers show as 200 in the document, whichever worker answers it."""
    async with httpx.AsyncClient(base_url=two_workers.base_url, timeout=10) as http:
        deadline = time.monotonic() + FLUSHED_WITHIN_SECONDS
        while len((await document(http))["background"]["workers"]) < 2:  # both reported themselves
            assert time.monotonic() < deadline, "the second worker never reported"
            await asyncio.sleep(0.2)
        tenant = await make_tenant(http)
        before = await settled_document(http)
        responses = await get_items_concurrently(two_workers.base_url, tenant, 200)
        assert {response.status_code for response in responses} == {200}
        expected = before["totals"]["requests"] + 200
        after = await document_once_counted(http, expected)
        await asyncio.sleep(1.5)  # a later flush must not count anything twice
        again = await document(http)
    assert after["totals"]["requests"] == again["totals"]["requests"] == expected
    workers = again["background"]["workers"]
    assert len(workers) == 2
    assert all(worker["requests"] > 0 for worker in workers), workers  # both served some
    assert sum(worker["requests"] for worker in workers) == expected
    assert {t["slug"]: t["requests"] for t in again["tenants"]["busiest"]}[tenant.slug] == 200
