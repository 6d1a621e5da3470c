"""Metrics (O2): the Prometheus metrics every process records, with the names SPEC.md fixes.

Every label is bounded: `path` is the route template (`<unmatched>` for a path no route matches),
`method` is a standard HTTP method or `OTHER`, and no histogram carries a tenant. Per-tenant counts
live in `tenant_requests_total{tenant}`, where each process gives its own label to the first
`METRICS_TENANT_LABELS` tenants it serves and counts the rest as `other` — a cap rather than a
"top N", because a top N would have to move counts between labels, which a counter cannot do.

With several workers (`app run --workers N`) prometheus-client's multiprocess mode
(`PROMETHEUS_MULTIPROC_DIR`, set by `app run`) sums every worker's values. It stores no
exemplars, so `ExemplarStore` keeps the latest trace id per histogram bucket in process and
`/metrics` attaches them to the merged buckets (the answering worker's exemplars).
"""

from __future__ import annotations

import os
import time
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Exemplar
from prometheus_client.utils import INF, floatToGoString

from app.telemetry.buffered import BufferedCounter, BufferedHistogram, LiveCount
from app.telemetry.finished import FinishedRequest

MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
UNMATCHED = "<unmatched>"
OTHER = "other"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"})
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0, INF)
CLIENT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, INF)

REQUESTS = Counter("http_requests", "HTTP requests answered.", ["method", "path", "status_code"])
REQUEST_DURATION = Histogram("http_request_duration_seconds", "Time to answer an HTTP request.",
                             ["method", "path"], buckets=REQUEST_BUCKETS)
IN_PROGRESS = Gauge("http_requests_in_progress", "HTTP requests being answered now.", multiprocess_mode="livesum")
EXCEPTIONS = Counter("http_exceptions", "Exceptions raised while answering (handled or not).",
                     ["method", "path", "exception_type"])
TENANT_REQUESTS = Counter("tenant_requests", "Requests per tenant (bounded; see METRICS_TENANT_LABELS).", ["tenant"])
AUTH_SUCCESS = Counter("auth_success", "Requests whose X-TOKEN resolved to an active tenant.")
AUTH_FAILURES = Counter("auth_failures", "Requests refused by the tenant guard.", ["reason"])
TENANT_CACHE_HITS = Counter("tenant_cache_hits", "Token lookups answered by the in-process cache.")
TENANT_CACHE_MISSES = Counter("tenant_cache_misses", "Token lookups that went to Redis or the registry.")
REDIS_RECORDS_REJECTED = Counter("redis_records_rejected",
                                 "Token records in Redis whose seal did not verify (never served; registry asked).")
DB_QUERIES = Counter("db_queries", "SQL statements run.", ["operation"])
DB_QUERY_ERRORS = Counter("db_query_errors", "SQL statements that failed.", ["operation"])
DB_QUERY_DURATION = Histogram("db_query_duration_seconds", "Time one SQL statement took.", ["operation"],
                              buckets=CLIENT_BUCKETS)
DB_POOL_SIZE = Gauge("db_pool_size", "Connections open in the PostgreSQL pools.", multiprocess_mode="livesum")
DB_CONNECTIONS_ACTIVE = Gauge("db_connections_active", "Pool connections in use.", multiprocess_mode="livesum")
REDIS_DURATION = Histogram("redis_command_duration_seconds", "Time one Redis command took.", ["command"],
                           buckets=CLIENT_BUCKETS)
REDIS_ERRORS = Counter("redis_command_errors", "Redis commands that failed.", ["command"])

# What the request path records into (app.telemetry.buffered): plain dicts, published in batches.
requests_answered = BufferedCounter(REQUESTS)
request_durations = BufferedHistogram(REQUEST_DURATION, REQUEST_BUCKETS)
requests_in_progress = LiveCount(IN_PROGRESS)
exceptions_raised = BufferedCounter(EXCEPTIONS)
tenant_requests = BufferedCounter(TENANT_REQUESTS)
auth_successes = BufferedCounter(AUTH_SUCCESS)
auth_failures = BufferedCounter(AUTH_FAILURES)
token_cache_hits = BufferedCounter(TENANT_CACHE_HITS)
token_cache_misses = BufferedCounter(TENANT_CACHE_MISSES)
redis_records_rejected = BufferedCounter(REDIS_RECORDS_REJECTED)
queries_run = BufferedCounter(DB_QUERIES)
query_errors = BufferedCounter(DB_QUERY_ERRORS)
query_durations = BufferedHistogram(DB_QUERY_DURATION, CLIENT_BUCKETS)
redis_durations = BufferedHistogram(REDIS_DURATION, CLIENT_BUCKETS)
redis_errors = BufferedCounter(REDIS_ERRORS)


@dataclass(frozen=True, slots=True)
class ProcessCounts:
    """What this process counted since it started, all labels together (for the monitoring dashboard)."""

    db_queries: int
    """SQL statements run (counted only while metrics are on: the timed connection counts them)."""
    token_cache_hits: int
    token_cache_misses: int


def process_counts() -> ProcessCounts:
    """The cumulative counts of the calling process, published or not."""
    return ProcessCounts(queries_run.total(), token_cache_hits.total(), token_cache_misses.total())


def normalized_method(method: str) -> str:
    """The method as a label: one of the standard ones, or OTHER (an attacker picks methods freely)."""
    return method if method in METHODS else "OTHER"


class ExemplarStore:
    """The latest (trace id, value, time) per histogram bucket and label set, for OpenMetrics exemplars."""

    def __init__(self, bounds: Iterable[float]) -> None:
        self.bounds = list(bounds)
        self.index = {floatToGoString(bound): i for i, bound in enumerate(self.bounds)}  # type: ignore[no-untyped-call]
        self.latest: dict[tuple[str, ...], list[Exemplar | None]] = {}

    def record(self, labels: tuple[str, ...], value: float, trace_id: str) -> None:
        """Remember `trace_id` as the exemplar of the bucket `value` falls in."""
        slots = self.latest.get(labels)
        if slots is None:
            slots = self.latest[labels] = [None] * len(self.bounds)
        slots[bisect_left(self.bounds, value)] = Exemplar({"trace_id": trace_id}, value, time.time())

    def attach(self, metric: Metric, label_names: tuple[str, ...]) -> Metric:
        """`metric` with each `_bucket` sample carrying this process's exemplar for it, if any."""
        samples = []
        for sample in metric.samples:
            if sample.name.endswith("_bucket"):
                slots = self.latest.get(tuple(sample.labels.get(name, "") for name in label_names))
                position = self.index.get(sample.labels.get("le", ""))
                if slots is not None and position is not None and slots[position] is not None:
                    sample = sample._replace(exemplar=slots[position])  # noqa: PLW2901
            samples.append(sample)
        metric.samples = samples
        return metric


class TenantLabels:
    """Gives the first `limit` tenants their own label and every later one `other`."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.labelled: set[str] = set()

    def label(self, tenant: str) -> str:
        """The label `tenant`'s requests are counted under."""
        if tenant in self.labelled:
            return tenant
        if len(self.labelled) < self.limit:
            self.labelled.add(tenant)
            return tenant
        return OTHER


REQUEST_EXEMPLARS = ExemplarStore(REQUEST_BUCKETS)


class RequestMetrics:
    """Records one finished request (the request layer calls it)."""

    def __init__(self, tenant_labels: int) -> None:
        self.tenants = TenantLabels(tenant_labels)

    @staticmethod
    def started() -> None:
        """A request began."""
        requests_in_progress.value += 1

    def finished(self, request: FinishedRequest) -> None:
        """A request ended: count it, time it (with its trace as exemplar), attribute it."""
        requests_in_progress.value -= 1
        method, route = normalized_method(request.method), request.route or UNMATCHED
        requests_answered.inc(method, route, str(request.status))
        request_durations.observe((method, route), request.seconds)
        if request.sampled and request.trace_id is not None:
            REQUEST_EXEMPLARS.record((method, route), request.seconds, request.trace_id)
        if request.exception_type is not None:
            exceptions_raised.inc(method, route, request.exception_type)
        if request.tenant is not None:
            tenant_requests.inc(self.tenants.label(request.tenant))


def with_exemplars(metrics: Iterable[Metric]) -> Iterator[Metric]:
    """Collected metrics, with the request histogram's buckets carrying their exemplars."""
    for metric in metrics:
        if metric.name == "http_request_duration_seconds":
            yield REQUEST_EXEMPLARS.attach(metric, ("method", "path"))
        else:
            yield metric
