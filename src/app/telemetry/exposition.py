"""`GET /metrics`: Prometheus text or OpenMetrics (with exemplars), as the scraper's Accept asks.

Written instead of Litestar's `PrometheusController` because that one fixes the format per class
(a scraper cannot negotiate OpenMetrics) and cannot add our exemplars or the fleet collector.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from http import HTTPStatus
from typing import Any

from litestar import Controller, Request, get
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.response import Response
from litestar.types import Guard
from prometheus_client import REGISTRY, CollectorRegistry, multiprocess
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric

from app.errors import Unauthenticated
from app.telemetry.buffered import publish_all
from app.telemetry.gauges import FleetCollector
from app.telemetry.metrics import MULTIPROCESS, with_exemplars


class ExposedMetrics:
    """What a scrape sees: this process's (or every worker's) metrics, exemplars, fleet facts."""

    def __init__(self) -> None:
        self.fleet = FleetCollector()

    def collect(self) -> Iterator[Metric]:
        """Every metric family, collected now (after this process's pending counts are published)."""
        publish_all()
        if MULTIPROCESS:
            source = CollectorRegistry()
            multiprocess.MultiProcessCollector(source)  # type: ignore[no-untyped-call]
        else:
            source = REGISTRY
        yield from with_exemplars(source.collect())
        yield from self.fleet.collect()


EXPOSED = ExposedMetrics()


class MetricsTokenRequired(Unauthenticated):
    """METRICS_TOKEN is set and the scrape did not give it."""

    status = HTTPStatus.UNAUTHORIZED
    headers = {"WWW-Authenticate": 'Bearer realm="metrics"'}  # noqa: RUF012  (a constant of the class)


def bearer_guard(token: str) -> Guard:
    """A guard letting through only `Authorization: Bearer <token>` (compared in constant time)."""
    expected = f"Bearer {token}".encode()

    def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        given = connection.headers.get("authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            raise MetricsTokenRequired("`/metrics` needs `Authorization: Bearer <METRICS_TOKEN>`.")

    return guard


def metrics_controller(token: str) -> type[Controller]:
    """The scrape endpoint: open without a token, else guarded by it."""
    if not token:
        return MetricsController
    return type("ProtectedMetricsController", (MetricsController,), {"guards": [bearer_guard(token)]})


class MetricsController(Controller):
    """The scrape endpoint (open unless METRICS_TOKEN is set: see `metrics_controller`)."""

    path = "/metrics"
    tags = ["monitoring"]  # noqa: RUF012  (Litestar reads this class attribute)

    @get(summary="Prometheus metrics", operation_id="getMetrics",
         description="Prometheus text format, or OpenMetrics when the Accept header asks for "
         "application/openmetrics-text (then histogram buckets carry trace-id exemplars).")
    async def metrics(self, request: Request) -> Response[bytes]:  # type: ignore[type-arg]
        """All metrics in the format the scraper accepts."""
        encoder, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encoder(EXPOSED), media_type=without_charset(content_type))


def without_charset(content_type: str) -> str:
    """`content_type` as Litestar should be given it: a text/ type without its `charset` parameter.

    Litestar appends `; charset=utf-8` to every text/ type itself, so prometheus-client's own would
    appear twice; other types (OpenMetrics) are sent as given.
    """
    if not content_type.startswith("text/"):
        return content_type
    return "; ".join(part for part in (piece.strip() for piece in content_type.split(";"))
                     if not part.startswith("charset="))
