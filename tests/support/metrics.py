"""Reading `/metrics` (Prometheus text or OpenMetrics), and traffic whose every request is counted."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable, Mapping

import httpx
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text
from prometheus_client.samples import Sample

from tests.support.tenants import Tenant

OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"
CLOSE = {"Connection": "close"}
"""A fresh connection per request: with several workers the kernel picks one for each."""
IN_FLIGHT = 16


async def scrape(
    http: httpx.AsyncClient, openmetrics: bool = False, headers: Mapping[str, str] | None = None
) -> list[Metric]:
    """GET /metrics on `http` (Prometheus text, or OpenMetrics) and parse it into families.

    The scrape must answer 200 in the format asked for.
    """
    asked = {**(headers or {}), **({"Accept": OPENMETRICS} if openmetrics else {})}
    response = await http.get("/metrics", headers=asked)
    assert response.status_code == 200, response.text
    expected = "application/openmetrics-text" if openmetrics else "text/plain"
    assert response.headers["content-type"].startswith(expected), response.headers
    parse = parse_openmetrics if openmetrics else parse_text
    return list(parse(response.text))


def all_samples(families: Iterable[Metric]) -> list[Sample]:
    """Every sample of a scrape's families."""
    return [sample for family in families for sample in family.samples]


def sample_value(families: Iterable[Metric], name: str, labels: dict[str, str]) -> float | None:
    """The value of the sample `name` with exactly `labels`, or None when the scrape has no such sample."""
    for family in families:
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return None


async def get_items_concurrently(base_url: str, tenant: Tenant, count: int) -> list[httpx.Response]:
    """Send `count` GET /items as `tenant`, IN_FLIGHT at a time, each on a new connection."""
    gate = asyncio.Semaphore(IN_FLIGHT)
    async with httpx.AsyncClient(base_url=base_url, timeout=30.0) as http:

        async def one() -> httpx.Response:
            async with gate:
                return await http.get("/items", headers={**tenant.headers, **CLOSE})

        return await asyncio.gather(*(one() for _ in range(count)))


def statuses(responses: Iterable[httpx.Response]) -> Counter[int]:
    """How many responses had each status code."""
    return Counter(response.status_code for response in responses)
