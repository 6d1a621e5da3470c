"""Telemetry building blocks: bounded labels, exemplar buckets, query operations, log lines and scrubbing."""

from __future__ import annotations

import json
import logging

import pytest
from loguru import logger
from opentelemetry.sdk.trace.sampling import ParentBased
from prometheus_client.metrics_core import HistogramMetricFamily

from app.telemetry.client_metrics import query_operation
from app.telemetry.layer import request_id_from
from app.telemetry.logging import InterceptHandler, scrub
from app.telemetry.metrics import OTHER, ExemplarStore, TenantLabels, normalized_method
from app.telemetry.tracing import default_sampler

TOKEN_LIKE = "Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5"[:43]


def test_tenant_labels_are_capped() -> None:
    """The first `limit` tenants keep their slug (also on later requests); every other one is `other`."""
    labels = TenantLabels(limit=2)
    assert [labels.label(t) for t in ("a", "b", "c", "a", "d", "b")] == ["a", "b", OTHER, "a", OTHER, "b"]


@pytest.mark.parametrize(("method", "label"), [("GET", "GET"), ("DELETE", "DELETE"), ("BREW", "OTHER"),
                                               ("get", "OTHER")])
def test_methods_outside_the_standard_set_share_one_label(method: str, label: str) -> None:
    """A client can send any method; only the standard ones get a label of their own."""
    assert normalized_method(method) == label


def test_exemplars_land_in_the_bucket_of_their_value() -> None:
    """An observation of 0.03 s is the exemplar of the le="0.05" bucket, and only of that one."""
    store = ExemplarStore([0.01, 0.05, 0.1, float("inf")])
    store.record(("GET", "/items"), 0.03, "abc")
    family = HistogramMetricFamily("h", "help", labels=["method", "path"])
    family.add_metric(["GET", "/items"], buckets=[("0.01", 0), ("0.05", 1), ("0.1", 1), ("+Inf", 1)], sum_value=0.03)
    attached = store.attach(family, ("method", "path"))
    exemplars = {s.labels["le"]: s.exemplar for s in attached.samples if s.name == "h_bucket"}
    assert exemplars["0.05"] is not None
    assert exemplars["0.05"].labels == {"trace_id": "abc"}
    assert [le for le, exemplar in exemplars.items() if exemplar is not None] == ["0.05"]


@pytest.mark.parametrize(("query", "operation"), [
    ("SELECT 1", "SELECT"), ("  insert into x values (1)", "INSERT"), ("BEGIN; SET LOCAL search_path TO x", "BEGIN"),
    ("COMMIT", "COMMIT"), ("VACUUM x", "OTHER"), ("", "OTHER"),
])
def test_query_operations_are_a_bounded_set(query: str, operation: str) -> None:
    """The operation label is the leading keyword, or OTHER — never free text from the query."""
    assert query_operation(query) == operation


@pytest.mark.parametrize("text", [
    f"resolved {TOKEN_LIKE} fine",
    f"headers: {{'x-token': '{TOKEN_LIKE[:20]}'}}",
    "X-ADMIN-KEY: hunter2",
    "{'authorization': 'Basic hunter2'}",
    "Authorization: Bearer hunter2",
])
def test_scrub_removes_token_shapes_and_secret_headers(text: str) -> None:
    """Token-shaped strings and X-TOKEN / X-ADMIN-KEY / Authorization values never survive into a log line."""
    scrubbed = scrub(text)
    assert "[redacted]" in scrubbed
    assert TOKEN_LIKE[:20] not in scrubbed
    assert "hunter2" not in scrubbed


@pytest.mark.parametrize(("given", "kept"), [("abc-123", True), ("a" * 128, True), ("a" * 129, False),
                                             ("has space", False), ("new\nline", False), (None, False)])
def test_request_ids_are_kept_only_when_sane(given: str | None, kept: bool) -> None:
    """A caller's X-Request-Id is echoed only if short and made of safe characters (no log injection)."""
    assert (request_id_from(given) == given) is kept


def test_json_lines_carry_message_level_and_bound_fields(captured: list[str]) -> None:
    """A line is one JSON object with time, level, message, logger and every bound field (braces kept)."""
    logger.bind(route="/items/{item_id}", status=200).info("GET /items/{item_id} 200")
    line = json.loads(captured[-1])
    assert (line["level"], line["message"], line["route"], line["status"]) == ("INFO", "GET /items/{item_id} 200",
                                                                               "/items/{item_id}", 200)
    assert "T" in line["time"]


def test_standard_library_logging_is_routed_into_loguru(captured: list[str]) -> None:
    """A record logged through `logging` (as uvicorn and asyncpg do) comes out as a loguru JSON line."""
    stdlib = logging.getLogger("uvicorn.error")
    stdlib.addHandler(InterceptHandler())
    try:
        stdlib.warning("worker %s booted", 7)
    finally:
        stdlib.handlers.clear()
    line = json.loads(captured[-1])
    assert (line["level"], line["message"], line["logger_name"]) == ("WARNING", "worker 7 booted", "uvicorn.error")


def test_the_default_sampler_records_up_to_ten_new_traces_a_second_and_follows_parents(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Unset OTEL_TRACES_SAMPLER means parent-based, 10 new traces a second; OTEL_TRACES_SAMPLER_ARG sets the budget.

    Any OTEL_TRACES_SAMPLER leaves the choice to the SDK.
    """
    monkeypatch.delenv("OTEL_TRACES_SAMPLER", raising=False)
    monkeypatch.delenv("OTEL_TRACES_SAMPLER_ARG", raising=False)
    sampler = default_sampler()
    assert isinstance(sampler, ParentBased)
    assert "RateLimited{10.0}" in sampler.get_description()
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "2.5")
    assert "RateLimited{2.5}" in default_sampler().get_description()  # type: ignore[union-attr]
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "lots")
    assert "RateLimited{10.0}" in default_sampler().get_description()  # type: ignore[union-attr]
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_on")
    assert default_sampler() is None
