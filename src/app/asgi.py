"""create_app(): the one place the Litestar application is assembled (tests call it too)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version

from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.plugins.problem_details import ProblemDetailsPlugin

from app import db
from app.errors import problem_details_config
from app.head import HeadAnsweredAsGet
from app.items import ItemController
from app.memory import settle_after_start_up
from app.monitoring import HealthController, HealthMonitor, dashboard, monitoring_routes, recorder_for
from app.openapi import TRACE_HEADERS, docs_assets_router, document_retry_after, openapi_config
from app.paths import NormalisedPathsOnly
from app.request import CobrejaRequest
from app.settings import Settings
from app.telemetry import TelemetryConfig, TelemetryPlugin, set_up_process
from app.tenants import AdminTenantController, registry_counts, tenancy

VERSION = version("cobreja")


def create_app(settings: Settings | None = None) -> Litestar:
    """Build the application for `settings` (default: from the environment).

    The process's logging and tracing are not set up here but once per process, by
    `set_up_process` (see `worker_app` and `app dev`).
    """
    settings = settings or Settings.from_env()
    recorder = recorder_for(settings)
    telemetry = TelemetryConfig.from_settings(settings, read_registry=registry_counts,
                                              observers=(recorder,) if recorder is not None else ())

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await db.start_pool(settings, connection_class=telemetry.connection_class)
        try:
            async with tenancy(app.state, settings), dashboard(app.state, settings, recorder, VERSION):
                app.state.health = HealthMonitor("cobreja", VERSION, app.state.redis)
                settle_after_start_up()
                yield
        finally:
            await db.stop_pool()

    return HeadAnsweredAsGet(
        route_handlers=[HealthController, ItemController, AdminTenantController, *monitoring_routes(),
                        docs_assets_router()],
        lifespan=[lifespan],
        middleware=[NormalisedPathsOnly()],
        plugins=[ProblemDetailsPlugin(problem_details_config()), TelemetryPlugin(telemetry)],
        openapi_config=openapi_config(VERSION),
        request_max_body_size=settings.max_request_body_bytes,
        state=State({"settings": settings}),
        request_class=CobrejaRequest,
        cors_config=cors_config(settings.cors_origins),
        response_headers=TRACE_HEADERS,
        on_startup=[document_retry_after],
    )


def cors_config(origins: list[str]) -> CORSConfig | None:
    """Litestar's CORS for `origins` (None when empty: no CORS headers at all).

    Preflight requests are answered by Litestar's CORS middleware before any guard runs (a preflight
    carries no credentials); the headers a browser client needs to read are exposed.
    """
    if not origins:
        return None
    return CORSConfig(
        allow_origins=origins,
        allow_methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
        allow_headers=["X-TOKEN", "X-ADMIN-KEY", "Content-Type", "Authorization", "X-Request-Id", "traceparent"],
        expose_headers=["Location", "Retry-After", "X-Trace-Id", "X-Request-Id", "WWW-Authenticate"],
        max_age=600,
    )


def worker_app() -> Litestar:
    """The app of one `app run --workers N` worker process: set the process up, then build the app."""
    settings = Settings.from_env()
    set_up_process(settings)
    return create_app(settings)
