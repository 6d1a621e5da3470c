"""`GET /metrics`: Prometheus text or OpenMetrics (with exemplars), as the scraper's Accept asks.

Written instead of Litestar's `PrometheusController` because that one fixes the format per class
(a scraper cannot negotiate OpenMetrics) and cannot add our exemplars or the fleet collector.
"""

from __future__ import annotations

from collections.abc import Iterator

from litestar import Controller, Request, get
from litestar.response import Response
from prometheus_client import REGISTRY, CollectorRegistry, multiprocess
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric

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


class MetricsController(Controller):
    """The scrape endpoint (no token needed; put it behind your network's edge)."""

    path = "/metrics"
    tags = ["monitoring"]  # noqa: RUF012  (Litestar reads this class attribute)

    @get(summary="Prometheus metrics", description="Prometheus text format, or OpenMetrics when the Accept "
         "header asks for application/openmetrics-text (then histogram buckets carry trace-id exemplars).")
    async def metrics(self, request: Request) -> Response[bytes]:  # type: ignore[type-arg]
        """All metrics in the format the scraper accepts."""
        encoder, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encoder(EXPOSED), media_type=content_type)
