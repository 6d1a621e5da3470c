"""create_app(): the one place the Litestar application is assembled (tests call it too)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version

from litestar import Litestar
from litestar.datastructures import State
from litestar.plugins.problem_details import ProblemDetailsPlugin

from app import db
from app.errors import problem_details_config
from app.items.routes import ItemController
from app.memory import settle_after_start_up
from app.monitoring.checks import HealthMonitor
from app.monitoring.health import HealthController
from app.openapi import openapi_config
from app.request import CobrejaRequest
from app.settings import Settings
from app.telemetry.middleware import instrument
from app.telemetry.plugins import LoggingPlugin, MetricsPlugin, TracingPlugin
from app.tenants.routes import AdminTenantController
from app.tenants.runtime import tenancy

VERSION = version("cobreja")


def create_app(settings: Settings | None = None) -> Litestar:
    """Build the application for `settings` (default: from the environment)."""
    settings = settings or Settings.from_env()
    logs, metrics, traces = LoggingPlugin(settings), MetricsPlugin(settings), TracingPlugin()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await db.start_pool(settings)
        app.state.health = HealthMonitor("cobreja", VERSION)
        try:
            async with tenancy(app.state, settings):
                settle_after_start_up()
                yield
        finally:
            await db.stop_pool()

    app = Litestar(
        route_handlers=[HealthController, ItemController, AdminTenantController],
        lifespan=[lifespan],
        plugins=[ProblemDetailsPlugin(problem_details_config()), logs, metrics, traces],
        openapi_config=openapi_config(VERSION),
        request_max_body_size=settings.max_request_body_bytes,
        state=State({"settings": settings}),
        request_class=CobrejaRequest,
    )
    return instrument(app, traces.tracer, metrics.recorder, logs.access)
