"""One Litestar plugin per signal: tracing, metrics, logging (DESIGN.md §4).

Each plugin reads its settings, registers what it adds to the app (routes, lifespan, hooks) in
`on_app_init`, and hands the request layer its per-request part (`telemetry/middleware.py`).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from litestar.plugins import InitPlugin
from loguru import logger
from prometheus_client import multiprocess

from app.settings import Settings
from app.telemetry.access import AccessLog
from app.telemetry.buffered import publishing
from app.telemetry.exposition import MetricsController
from app.telemetry.fleet import sampling
from app.telemetry.logging import configure_logging
from app.telemetry.metrics import MULTIPROCESS, RequestMetrics
from app.telemetry.middleware import remember_exception
from app.telemetry.tracing import RequestTracer, tracer_provider

if TYPE_CHECKING:
    from litestar import Litestar
    from litestar.config.app import AppConfig


class TracingPlugin(InitPlugin):
    """Traces (O1): the process's tracer provider from `OTEL_*`; None tracer when disabled."""

    def __init__(self) -> None:
        provider = tracer_provider()
        self.tracer = RequestTracer(provider) if provider is not None else None

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        """Nothing to register: the provider is per process and flushes itself at exit."""
        return app_config


class MetricsPlugin(InitPlugin):
    """Metrics (O2): `/metrics`, the background sampler and the per-request recorder."""

    def __init__(self, settings: Settings) -> None:
        self.recorder = RequestMetrics(settings.metrics_tenant_labels) if settings.metrics_enabled else None

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        """Serve `/metrics`, sample pool and fleet facts while the app runs, count exceptions."""
        if self.recorder is not None:
            app_config.route_handlers.append(MetricsController)
            app_config.lifespan.append(self._lifespan)
            app_config.after_exception.append(remember_exception)
        return app_config

    @staticmethod
    @asynccontextmanager
    async def _lifespan(_: Litestar) -> AsyncIterator[None]:
        try:
            async with sampling(), publishing():
                yield
        finally:
            if MULTIPROCESS:  # this worker's live gauges leave the sums when it stops
                multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


class LoggingPlugin(InitPlugin):
    """Logs (O3): loguru sinks, stdlib interception, and the access line."""

    def __init__(self, settings: Settings) -> None:
        configure_logging(settings.log_level, settings.log_dir, (settings.admin_api_key,))
        # Access lines are INFO: below a WARNING threshold they would be built only to be dropped.
        wanted = settings.access_log and logger.level(settings.log_level.upper()).no <= logger.level("INFO").no
        self.access = AccessLog(settings.slow_request_ms) if wanted else None

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        """Keep Litestar from installing its own root-logger handlers over ours; flush access lines."""
        app_config.logging_config = None
        if self.access is not None:
            access = self.access

            @asynccontextmanager
            async def flushing(_: Litestar) -> AsyncIterator[None]:
                async with access.flushing():
                    yield

            app_config.lifespan.append(flushing)
        return app_config
