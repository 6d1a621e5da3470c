"""Metrics (O2): SPEC names, route templates as labels, bounded cardinality, OpenMetrics exemplars."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.samples import Sample

from app.telemetry.gauges import RETRY_SECONDS, SAMPLE_INTERVAL_SECONDS
from tests.support.metrics import all_samples, scrape
from tests.support.tenants import Tenant

SPEC_NAMES = {
    "http_requests_total", "http_request_duration_seconds_bucket", "http_requests_in_progress",
    "http_exceptions_total", "tenant_requests_total", "auth_success_total", "auth_failures_total",
    "db_connections_active", "db_pool_size", "db_query_duration_seconds_bucket", "db_queries_total",
    "redis_command_duration_seconds_bucket", "tenant_cache_hits_total", "tenant_cache_misses_total",
    "tenants_total", "migration_runs_total", "migration_failures_total", "system_cpu_percent",
    "system_memory_percent", "system_disk_percent", "process_cpu_seconds_total", "process_resident_memory_bytes",
}
OPENMETRICS = {"Accept": "application/openmetrics-text; version=1.0.0"}


def value(samples: list[Sample], name: str, **labels: str) -> float:
    """The sum of the samples called `name` whose labels include `labels` (0 if none)."""
    return sum(s.value for s in samples if s.name == name and labels.items() <= s.labels.items())


async def test_every_metric_spec_md_names_is_exposed(client: httpx.AsyncClient, tenant: Tenant) -> None:
    """After some traffic, /metrics carries every name SPEC.md O2 lists (dashboards and alerts query them)."""
    await client.get("/items", headers=tenant.headers)
    await client.get("/items")
    # Fleet facts come from the background sampler, which reads the registry every interval: the
    # tenant made for this test shows in `tenants_total` at the next read (an empty registry has no series).
    deadline = time.monotonic() + SAMPLE_INTERVAL_SECONDS + 2 * RETRY_SECONDS + 1
    while not (names := {sample.name for sample in all_samples(await scrape(client))}) >= SPEC_NAMES:
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert names >= SPEC_NAMES, sorted(SPEC_NAMES - names)


async def test_labels_are_route_templates_even_after_100_different_ids(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    """Requests to 100 different item ids leave no raw id anywhere in /metrics: one `/items/{item_id}` series."""
    ids = [str(uuid.uuid4()) for _ in range(100)]
    for item_id in ids:
        assert (await client.get(f"/items/{item_id}", headers=tenant.headers)).status_code == 404
    text = (await client.get("/metrics")).text
    assert not [item_id for item_id in ids if item_id in text]
    samples = all_samples(await scrape(client))
    assert value(samples, "http_requests_total", method="GET", path="/items/{item_id}", status_code="404") >= 100
    paths = {s.labels["path"] for s in samples if "path" in s.labels}
    assert all(path.startswith("/") or path == "<unmatched>" for path in paths), paths


async def test_unmatched_paths_share_one_label(client: httpx.AsyncClient) -> None:
    """Scanner traffic to paths no route matches is counted under path="<unmatched>", not per path."""
    before = value(all_samples(await scrape(client)), "http_requests_total", path="<unmatched>", status_code="404")
    for n in range(5):
        await client.get(f"/wp-admin/{n}.php")
    samples = all_samples(await scrape(client))
    assert value(samples, "http_requests_total", path="<unmatched>", status_code="404") == before + 5
    assert not [s for s in samples if "wp-admin" in str(s.labels)]


async def test_histograms_carry_no_tenant_label(client: httpx.AsyncClient, tenant: Tenant) -> None:
    """No histogram series is split by tenant (the cardinality trap); tenants are a counter's business."""
    await client.get("/items", headers=tenant.headers)
    samples = all_samples(await scrape(client))
    assert not [s for s in samples if s.name.endswith("_bucket") and "tenant" in s.labels]
    assert value(samples, "tenant_requests_total", tenant=tenant.slug) >= 1


async def test_auth_and_tenant_counters_move(client: httpx.AsyncClient, tenant: Tenant) -> None:
    """A request without a token, one with a malformed token and one good one move the right counters."""
    before = all_samples(await scrape(client))
    await client.get("/items")
    await client.get("/items", headers={"X-TOKEN": "short"})
    await client.get("/items", headers=tenant.headers)
    after = all_samples(await scrape(client))
    for reason in ("missing", "malformed"):
        assert value(after, "auth_failures_total", reason=reason) == value(before, "auth_failures_total",
                                                                           reason=reason) + 1
    assert value(after, "auth_success_total") == value(before, "auth_success_total") + 1
    assert value(after, "tenant_requests_total", tenant=tenant.slug) == value(
        before, "tenant_requests_total", tenant=tenant.slug) + 1
    assert value(after, "http_exceptions_total", exception_type="TokenRequired") >= 2
    assert value(after, "db_queries_total", operation="SELECT") > value(before, "db_queries_total", operation="SELECT")


async def test_openmetrics_buckets_carry_the_trace_id_as_exemplar(client: httpx.AsyncClient, tenant: Tenant) -> None:
    """OpenMetrics scrapes parse, and a request's X-Trace-Id is the exemplar of its duration bucket.

    Asked with Accept: application/openmetrics-text, the request histogram's buckets carry trace ids.
    """
    response = await client.get("/items?limit=3", headers=tenant.headers)
    trace_id = response.headers["x-trace-id"]
    scraped = await client.get("/metrics", headers=OPENMETRICS)
    assert scraped.headers["content-type"].startswith("application/openmetrics-text")
    families = list(parse_openmetrics(scraped.text))
    exemplars = [
        sample.exemplar
        for family in families if family.name == "http_request_duration_seconds"
        for sample in family.samples
        if sample.exemplar is not None and sample.labels.get("path") == "/items"
    ]
    assert trace_id in [exemplar.labels["trace_id"] for exemplar in exemplars]


@pytest.mark.parametrize(("accept", "media_type"), [
    ("", "text/plain; version=0.0.4"),
    (OPENMETRICS["Accept"], "application/openmetrics-text; version=1.0.0"),
], ids=["text", "openmetrics"])
async def test_metrics_content_type_names_its_charset_once(client: httpx.AsyncClient, accept: str,
                                                           media_type: str) -> None:
    """`/metrics` sends the format's content type with exactly one `charset=utf-8` parameter (not two)."""
    scraped = await client.get("/metrics", headers={"Accept": accept} if accept else {})
    content_type = scraped.headers["content-type"]
    assert content_type.startswith(media_type)
    assert [part.strip() for part in content_type.split(";")].count("charset=utf-8") == 1, content_type
