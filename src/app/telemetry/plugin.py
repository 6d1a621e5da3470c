"""The telemetry plugin: traces, metrics and logs of every request, registered through Litestar's plugin API.

`TelemetryPlugin(TelemetryConfig(...))` adds, in `on_app_init`: the `/metrics` route, the
background tasks (gauge sampler, metrics publisher, access-log flush) as lifespans, the hook that
remembers a raised exception's type, and the request layer (`telemetry/layer.py`). Process-wide
set-up (log sinks, tracer provider) is not done here but by `set_up_process`, once per process.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import asyncpg
from litestar.plugins import InitPlugin
from loguru import logger
from prometheus_client import multiprocess

from app.settings import Settings
from app.telemetry.access import AccessLog
from app.telemetry.buffered import publishing
from app.telemetry.client_metrics import TimedConnection
from app.telemetry.exposition import metrics_controller
from app.telemetry.finished import RequestObserver
from app.telemetry.gauges import ReadRegistry, sampling
from app.telemetry.layer import RequestLayer, remember_exception
from app.telemetry.metrics import MULTIPROCESS, RequestMetrics
from app.telemetry.tracing import RequestTracer, tracer_provider

if TYPE_CHECKING:
    from litestar import Litestar
    from litestar.config.app import AppConfig


@dataclass(frozen=True, slots=True)
class TelemetryConfig:
    """What the telemetry of one app records (`from_settings` reads it from the service's settings)."""

    traces: bool = True
    """Open a server span per request, on the process's tracer provider (none: `set_up_process` was not
    called, or `OTEL_SDK_DISABLED=true`)."""
    metrics: bool = True
    """Count and time requests, SQL and Redis for `/metrics`, serve `/metrics`, sample the gauges."""
    access_log: bool = True
    """Write one JSON access line per request (INFO lines: off when `log_level` is above INFO)."""
    log_level: str = "INFO"
    """The process's log level, so access lines nobody would see are never built."""
    slow_request_ms: float = 500.0
    """Requests at least this slow are marked `slow` and also written to performance.log."""
    metrics_token: str = field(default="", repr=False)
    """Bearer token `/metrics` requires; empty: open."""
    tenant_labels: int = 100
    """Tenants per process that get their own label in `tenant_requests_total`; later ones are `other`."""
    read_registry: ReadRegistry | None = None
    """Reads tenants by status and the migration ledger's totals for the gauges (tenancy hands it in)."""
    observers: tuple[RequestObserver, ...] = ()
    """Told of every request besides the metrics (the monitoring dashboard's recorder)."""

    @classmethod
    def from_settings(cls, settings: Settings, read_registry: ReadRegistry | None = None,
                      observers: tuple[RequestObserver, ...] = ()) -> TelemetryConfig:
        """The telemetry `settings` ask for."""
        return cls(metrics=settings.metrics_enabled, access_log=settings.access_log, log_level=settings.log_level,
                   slow_request_ms=settings.slow_request_ms, tenant_labels=settings.metrics_tenant_labels,
                   metrics_token=settings.metrics_token,
                   read_registry=read_registry, observers=observers)

    @property
    def connection_class(self) -> type[asyncpg.Connection]:
        """The pool's connection class: one that times every statement while metrics are on."""
        return TimedConnection if self.metrics else asyncpg.Connection

    @property
    def writes_access_lines(self) -> bool:
        """Whether access lines are on and their level (INFO) passes `log_level`."""
        return self.access_log and logger.level(self.log_level.upper()).no <= logger.level("INFO").no


class TelemetryPlugin(InitPlugin):
    """Registers the request layer and everything the signals need while the app runs."""

    def __init__(self, config: TelemetryConfig) -> None:
        self.config = config

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        """Add `/metrics`, the signals' lifespan, the exception hook and the request layer."""
        provider = tracer_provider() if self.config.traces else None
        tracer = RequestTracer(provider) if provider is not None else None
        metrics = RequestMetrics(self.config.tenant_labels) if self.config.metrics else None
        access = AccessLog(self.config.slow_request_ms) if self.config.writes_access_lines else None
        app_config.logging_config = None  # loguru is the process's logging (set_up_process), not Litestar's
        if metrics is not None:
            app_config.route_handlers.append(metrics_controller(self.config.metrics_token))
        app_config.lifespan.append(_signals_running(metrics is not None, access, self.config.read_registry))
        observers = ((metrics,) if metrics is not None else ()) + self.config.observers
        if tracer is not None or observers or access is not None:
            app_config.after_exception.append(remember_exception)
            app_config.on_startup.append(RequestLayer.installer(tracer, observers, access))
        return app_config


def _signals_running(metrics: bool, access: AccessLog | None, read_registry: ReadRegistry | None
                     ) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
    """The lifespan of the signals' background work: access-log flush, gauge sampler, metrics publisher."""

    @asynccontextmanager
    async def running(_: Litestar) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            if access is not None:
                await stack.enter_async_context(access.flushing())
            if metrics:
                stack.push_async_callback(_leave_multiprocess_sums)
                await stack.enter_async_context(sampling(read_registry))
                await stack.enter_async_context(publishing())
            yield

    return running


async def _leave_multiprocess_sums() -> None:
    """Take this worker's live gauges out of the multiprocess sums (it is stopping)."""
    if MULTIPROCESS:
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
