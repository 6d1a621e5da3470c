"""Traces (O1): span names by route template, attributes, SQL/Redis child spans, traceparent, X-Trace-Id."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from app.telemetry.finished import FinishedRequest
from app.telemetry.gauges import RETRY_SECONDS
from app.telemetry.tracing import RequestTracer, tracer_provider
from app.tenants.invalidation import DRAIN_EVERY_SECONDS
from tests.support.tenants import Tenant, unique_slug

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN_ID = "00f067aa0ba902b7"


@pytest.fixture(scope="module")
def exporter() -> Iterator[InMemorySpanExporter]:
    """Every span the process ends, kept in memory (added to the process's real provider)."""
    provider = tracer_provider()
    assert provider is not None, "tracing is on by default"
    memory = InMemorySpanExporter()
    processor = SimpleSpanProcessor(memory)
    provider.add_span_processor(processor)
    yield memory
    processor.shutdown()


def server_span(spans: tuple[ReadableSpan, ...], trace_id: str) -> ReadableSpan:
    """The one SERVER span of the trace `trace_id`."""
    found = [s for s in spans if s.kind is SpanKind.SERVER and format(s.context.trace_id, "032x") == trace_id]
    assert len(found) == 1, [s.name for s in spans]
    return found[0]


def children_of(spans: tuple[ReadableSpan, ...], parent: ReadableSpan) -> list[ReadableSpan]:
    """Spans whose parent is `parent`."""
    return [s for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id]


async def test_span_is_named_by_route_template_with_tenant_and_http_attributes(
    client: httpx.AsyncClient, tenant: Tenant, exporter: InMemorySpanExporter
) -> None:
    """GET /items/<uuid> gives one server span `GET /items/{item_id}` carrying tenant.slug and HTTP attributes."""
    created = await client.post("/items", json={"title": "traced"}, headers=tenant.headers)
    item_id = created.json()["id"]
    exporter.clear()
    response = await client.get(f"/items/{item_id}", headers=tenant.headers)
    assert response.status_code == 200
    span = server_span(exporter.get_finished_spans(), response.headers["x-trace-id"])
    assert span.name == "GET /items/{item_id}"
    attributes = dict(span.attributes or {})
    assert attributes["tenant.slug"] == tenant.slug
    assert attributes["http.route"] == "/items/{item_id}"
    assert attributes["http.request.method"] == "GET"
    assert attributes["http.response.status_code"] == 200
    assert attributes["url.path"] == f"/items/{item_id}"
    assert item_id not in span.name


async def test_sql_spans_are_children_of_the_request_span(
    client: httpx.AsyncClient, tenant: Tenant, exporter: InMemorySpanExporter
) -> None:
    """The request's BEGIN/SET LOCAL, SELECT and COMMIT appear as PostgreSQL client spans under it."""
    exporter.clear()
    response = await client.get("/items", headers=tenant.headers)
    spans = exporter.get_finished_spans()
    request = server_span(spans, response.headers["x-trace-id"])
    sql = [s for s in children_of(spans, request) if (s.attributes or {}).get("db.system") == "postgresql"]
    statements = " | ".join(str((s.attributes or {}).get("db.statement", "")) for s in sql)
    assert len(sql) >= 3, statements
    assert "SET LOCAL search_path" in statements
    assert "COMMIT" in statements
    assert all(s.kind is SpanKind.CLIENT for s in sql)


async def test_redis_commands_are_children_of_the_request_span(
    client: httpx.AsyncClient, admin_headers: dict[str, str], exporter: InMemorySpanExporter
) -> None:
    """Creating a tenant writes its token record to Redis; that write is a Redis client span under the request.

    The write is a script (EVAL): a record never replaces a tombstone.
    """
    exporter.clear()
    response = await client.post("/admin/tenants", json={"slug": unique_slug("tr")}, headers=admin_headers)
    assert response.status_code == 201
    spans = exporter.get_finished_spans()
    request = server_span(spans, response.headers["x-trace-id"])
    assert request.name == "POST /admin/tenants"
    redis = [s for s in children_of(spans, request) if (s.attributes or {}).get("db.system") == "redis"]
    assert "EVAL" in [s.name for s in redis]
    assert response.json()["token"] not in str([dict(s.attributes or {}) for s in spans])


async def test_an_incoming_traceparent_is_continued(
    client: httpx.AsyncClient, tenant: Tenant, exporter: InMemorySpanExporter
) -> None:
    """With a W3C traceparent, the server span joins that trace as a child of the caller's span."""
    exporter.clear()
    headers = {**tenant.headers, "traceparent": f"00-{TRACE_ID}-{PARENT_SPAN_ID}-01"}
    response = await client.get("/items", headers=headers)
    assert response.headers["x-trace-id"] == TRACE_ID
    span = server_span(exporter.get_finished_spans(), TRACE_ID)
    assert span.parent is not None
    assert format(span.parent.span_id, "016x") == PARENT_SPAN_ID
    assert span.parent.is_remote


async def test_unmatched_paths_are_named_by_method_only(
    client: httpx.AsyncClient, exporter: InMemorySpanExporter
) -> None:
    """A 404 for a path no route matches still gets a span, named `GET`, never by the raw path."""
    exporter.clear()
    response = await client.get("/no/such/place/12345")
    assert response.status_code == 404
    span = server_span(exporter.get_finished_spans(), response.headers["x-trace-id"])
    assert span.name == "GET"
    assert "http.route" not in (span.attributes or {})


@pytest.mark.parametrize(("status", "is_error"), [(503, True), (500, True), (404, False), (200, False)])
def test_only_server_errors_mark_the_span(status: int, is_error: bool, exporter: InMemorySpanExporter) -> None:
    """A 5xx answer sets the span's status to ERROR with error.type; a 4xx is the client's doing."""
    provider = tracer_provider()
    assert provider is not None
    tracer = RequestTracer(provider)
    scope = {"method": "GET", "path": "/items", "headers": [], "client": ("127.0.0.1", 1)}
    span, token = tracer.start(scope, {})  # type: ignore[arg-type]
    trace_id = format(span.get_span_context().trace_id, "032x")
    finished = FinishedRequest("r", trace_id, None, True, "GET", "/items", "/items", status, 0.01, None,
                               "ServiceUnavailable" if is_error else None, None)
    RequestTracer.finish(span, token, finished)
    ended = server_span(exporter.get_finished_spans(), trace_id)
    assert (ended.status.status_code is StatusCode.ERROR) is is_error
    assert ("error.type" in (ended.attributes or {})) is is_error


async def test_background_work_makes_no_spans(client: httpx.AsyncClient, exporter: InMemorySpanExporter) -> None:
    """The outbox drain (every second) and the metrics sampler run SQL, but never as traces of their own."""
    await client.get("/health")
    exporter.clear()
    await asyncio.sleep(2 * DRAIN_EVERY_SECONDS + RETRY_SECONDS)
    assert [span.name for span in exporter.get_finished_spans()] == []


async def test_an_unsampled_request_records_nothing_but_keeps_its_trace_id(
    client: httpx.AsyncClient, tenant: Tenant, exporter: InMemorySpanExporter
) -> None:
    """An unsampled request (traceparent flags 00) records no span at all, yet keeps its trace id.

    Neither the server span nor SQL spans are recorded (the instrumentations are skipped).
    """
    exporter.clear()
    headers = {**tenant.headers, "traceparent": f"00-{TRACE_ID}-{PARENT_SPAN_ID}-00"}
    response = await client.get("/items", headers=headers)
    assert response.status_code == 200
    assert response.headers["x-trace-id"] == TRACE_ID
    assert exporter.get_finished_spans() == ()
