"""The telemetry plugin registers what each signal needs, whichever signals are on."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from litestar import Litestar, get
from litestar.plugins.problem_details import ProblemDetailsPlugin
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from app.errors import ServiceUnavailable, problem_details_config
from app.telemetry import TelemetryConfig, TelemetryPlugin
from app.telemetry.layer import RequestLayer
from app.telemetry.tracing import tracer_provider
from tests.support.lifespan import running_lifespan


@pytest.fixture
def spans(app: Litestar) -> Iterator[InMemorySpanExporter]:
    """Spans ended while the test runs (the session `app` fixture sets the process up, tracing included)."""
    provider = tracer_provider()
    assert provider is not None
    memory = InMemorySpanExporter()
    processor = SimpleSpanProcessor(memory)
    provider.add_span_processor(processor)
    yield memory
    processor.shutdown()


@get("/unavailable", sync_to_thread=False)
def unavailable() -> None:
    """Always a handled 503."""
    raise ServiceUnavailable("down on purpose")


def bare_app(config: TelemetryConfig) -> Litestar:
    """A Litestar app with only the telemetry plugin (and problem details) around one failing route."""
    return Litestar(route_handlers=[unavailable], plugins=[ProblemDetailsPlugin(problem_details_config()),
                                                           TelemetryPlugin(config)])


async def test_a_handled_5xx_span_keeps_its_error_type_with_metrics_off(spans: InMemorySpanExporter) -> None:
    """With metrics off, a handled 503's server span still carries `error.type` (the exception hook is the plugin's)."""
    app = bare_app(TelemetryConfig(metrics=False, access_log=False))
    async with running_lifespan(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            response = await client.get("/unavailable")
    assert response.status_code == 503
    trace_id = int(response.headers["x-trace-id"], 16)
    [span] = [s for s in spans.get_finished_spans() if s.kind is SpanKind.SERVER and s.context.trace_id == trace_id]
    assert (span.attributes or {})["error.type"] == "ServiceUnavailable"


async def test_the_request_layer_is_installed_once_however_often_the_app_starts() -> None:
    """Starting an app's lifespan twice wraps its handler in the request layer once, not twice."""
    app = bare_app(TelemetryConfig(traces=False, metrics=False, access_log=True, log_level="INFO"))
    for _ in range(2):
        async with running_lifespan(app):
            assert isinstance(app.asgi_handler, RequestLayer)
            assert not isinstance(app.asgi_handler.app, RequestLayer)


def test_with_every_signal_off_there_is_no_request_layer_and_no_metrics_route() -> None:
    """All signals off: no `/metrics` route, no exception hook, no start-up hook."""
    app = bare_app(TelemetryConfig(traces=False, metrics=False, access_log=False))
    assert "/metrics" not in [route.path for route in app.routes]
    assert app.after_exception == []
    assert app.on_startup == []


def test_with_metrics_on_the_plugin_serves_metrics_and_installs_the_layer() -> None:
    """Metrics on: `/metrics` is a route, and the exception hook and the layer's installer are registered."""
    app = bare_app(TelemetryConfig(traces=False, metrics=True, access_log=False))
    assert "/metrics" in [route.path for route in app.routes]
    assert len(app.after_exception) == 1
    assert len(app.on_startup) == 1

