"""Traces (O1): a server span per request named by route template, client spans for SQL and Redis.

Configured only by the standard `OTEL_*` variables, read by the OpenTelemetry SDK itself (service
name, sampler, exporter endpoint and protocol, batch sizes). No endpoint → no exporter: spans still
exist in process, so logs, metrics exemplars and `X-Trace-Id` carry trace ids. `OTEL_SDK_DISABLED=true`
turns spans off entirely.

The request span is started by our own request layer (`telemetry/layer.py`), not by
opentelemetry-instrumentation-asgi, on purpose: that middleware names spans by raw path, opens two
extra internal spans per response and parses every header; ours starts one span, renames it to the
route template once Litestar has routed (bench/README.md has the figures). SQL and Redis
spans do come from the official asyncpg and redis instrumentations.

The provider and the instrumentations are process-wide: `install_tracer_provider` builds them once,
called by `app.telemetry.set_up_process`; the plugin only reads `tracer_provider()`.
"""

from __future__ import annotations

import math
import os
from importlib.metadata import version
from typing import TYPE_CHECKING

from opentelemetry import context, propagate, trace
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import Sampler
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from app.telemetry.finished import FinishedRequest
from app.telemetry.sampling import DEFAULT_TRACES_PER_SECOND, parent_based_rate_limited

if TYPE_CHECKING:
    from litestar.types import HTTPScope

SERVICE_NAME = "cobreja"
SUPPORTED_PROTOCOLS = ("http/protobuf",)
OTEL_ENV_NAMES = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_SERVICE_NAME",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "OTEL_SDK_DISABLED",
)
"""The OTEL_* variables `.env.example` documents (the SDK reads more, such as OTEL_BSP_*)."""


def tracing_disabled() -> bool:
    """Whether `OTEL_SDK_DISABLED` turns tracing off."""
    return os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"


def export_endpoint() -> str | None:
    """The OTLP traces endpoint the environment names, if any."""
    return os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or None


def export_protocol() -> str:
    """The OTLP protocol the environment asks for (default http/protobuf)."""
    protocol = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
    return (protocol or "http/protobuf").strip().lower()


def tracing_problems() -> list[str]:
    """Configuration the exporter cannot honour, as one line each (checked by `app run`'s preflight)."""
    if tracing_disabled() or export_endpoint() is None or export_protocol() in SUPPORTED_PROTOCOLS:
        return []
    return [f"OTEL_EXPORTER_OTLP_PROTOCOL={export_protocol()!r} is not supported; use http/protobuf (port 4318)"]


def default_sampler() -> Sampler | None:
    """Our default when OTEL_TRACES_SAMPLER is unset: parent-based, at most 10 new traces a second.

    See `app.telemetry.sampling` for why a budget rather than the SDK's default (record everything,
    the costliest choice: bench/README.md) or a ratio. OTEL_TRACES_SAMPLER_ARG
    alone sets the budget (new traces a second per process; 0 records none). OTEL_TRACES_SAMPLER
    picks any SDK sampler instead (`parentbased_always_on` records every request, and
    `parentbased_traceidratio` with a ratio in OTEL_TRACES_SAMPLER_ARG). None: the SDK reads them.
    """
    if os.environ.get("OTEL_TRACES_SAMPLER"):
        return None
    try:
        per_second = float(os.environ.get("OTEL_TRACES_SAMPLER_ARG") or DEFAULT_TRACES_PER_SECOND)
    except ValueError:
        per_second = DEFAULT_TRACES_PER_SECOND
    return parent_based_rate_limited(per_second if math.isfinite(per_second) else DEFAULT_TRACES_PER_SECOND)


def _exporter() -> SpanExporter | None:
    if export_endpoint() is None or tracing_problems():
        return None
    # Imported here so a process without an endpoint never loads the exporter (and its protobuf).
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # noqa: PLC0415

    return OTLPSpanExporter()  # endpoint, headers, timeout and compression from OTEL_EXPORTER_OTLP_*


_INSTALLED: list[TracerProvider] = []
"""The provider `install_tracer_provider` built in this process (at most one)."""


def install_tracer_provider() -> TracerProvider | None:
    """Build the process's tracer provider and instrument asyncpg and redis, once; None when disabled.

    It becomes the global provider, and the asyncpg and redis instrumentations report to it.
    The sampler comes from OTEL_TRACES_SAMPLER, else `default_sampler`. A second call returns
    the first call's provider.
    """
    if tracing_disabled():
        return None
    if _INSTALLED:
        return _INSTALLED[0]
    service = os.environ.get("OTEL_SERVICE_NAME") or SERVICE_NAME
    resource = Resource.create({"service.name": service, "service.version": version("cobreja")})
    provider = TracerProvider(resource=resource, sampler=default_sampler())
    exporter = _exporter()
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    AsyncPGInstrumentor().instrument(tracer_provider=provider)  # type: ignore[no-untyped-call]
    RedisInstrumentor().instrument(tracer_provider=provider)
    _INSTALLED.append(provider)
    return provider


def tracer_provider() -> TracerProvider | None:
    """The process's tracer provider, if `install_tracer_provider` built one (else tracing is off)."""
    return _INSTALLED[0] if _INSTALLED else None


class RequestTracer:
    """Starts and finishes the server span of one HTTP request."""

    def __init__(self, provider: TracerProvider) -> None:
        self.tracer = provider.get_tracer("app.telemetry", version("cobreja"))

    def start(self, scope: HTTPScope, carrier: dict[str, str]) -> tuple[Span, object]:
        """Open the span (as a child of an incoming `traceparent`) and make it current."""
        parent = propagate.extract(carrier) if not PROPAGATION_HEADERS.isdisjoint(carrier) else None
        method = scope["method"]
        # Named by method only until routing knows the template (OTel semantic conventions).
        span = self.tracer.start_span(method, context=parent, kind=SpanKind.SERVER)
        if span.is_recording():  # attributes only for spans that will be exported
            span.set_attributes(_request_attributes(scope, carrier))
        request_context = trace.set_span_in_context(span, parent)
        if not span.get_span_context().trace_flags.sampled:
            # Its SQL and Redis spans would not be recorded either (parent-based sampling); skipping
            # the instrumentations outright spares an unsampled request their whole cost.
            request_context = context.set_value(_SUPPRESS_INSTRUMENTATION_KEY, True, request_context)
        return span, context.attach(request_context)

    @staticmethod
    def finish(span: Span, token: object, request: FinishedRequest) -> None:
        """Name the span by route template, record the outcome, end it and restore the context."""
        context.detach(token)  # type: ignore[arg-type]
        if not span.is_recording():  # an unsampled request's span keeps nothing: skip the no-op calls
            return
        if request.route is not None:
            span.update_name(f"{request.method} {request.route}")
            span.set_attribute("http.route", request.route)
        span.set_attribute("http.response.status_code", request.status)
        if request.tenant is not None:
            span.set_attribute("tenant.slug", request.tenant)
        if request.status >= 500:  # noqa: PLR2004  (server errors mark the span; 4xx are the client's)
            span.set_attribute("error.type", request.exception_type or str(request.status))
            span.set_status(Status(StatusCode.ERROR))
        span.end()


def _request_attributes(scope: HTTPScope, carrier: dict[str, str]) -> dict[str, str]:
    attributes = {
        "http.request.method": scope["method"],
        "url.path": scope["path"],
        "url.scheme": scope.get("scheme", "http"),
        "network.protocol.version": scope.get("http_version", "1.1"),
    }
    if client := scope.get("client"):
        attributes["client.address"] = client[0]
    if agent := carrier.get("user-agent"):
        attributes["user_agent.original"] = agent
    return attributes


PROPAGATION_HEADERS = frozenset(propagate.get_global_textmap().fields)
"""Header names the global propagator reads (traceparent, tracestate, baggage)."""
