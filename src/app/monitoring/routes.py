"""`/monitoring/` (the dashboard page, O6), its assets, and `/monitoring/api/metrics` (the JSON document, O5)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from litestar import Controller, Request, Response, get
from litestar.enums import MediaType
from litestar.response import Redirect
from litestar.static_files import create_static_files_router
from litestar.types import ControllerRouterHandler

from app.monitoring.credentials import monitoring_guard
from app.monitoring.document import MonitoringDocument
from app.openapi import problem_responses

STATIC_DIR = Path(__file__).parent / "static"
PAGE_POLICY = "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
"""The page loads nothing from elsewhere (the chart library is vendored), and nothing inline."""


@cache
def _page() -> bytes:
    return (STATIC_DIR / "index.html").read_bytes()


class MonitoringController(Controller):
    """The built-in dashboard and its data, for the admin key or the monitoring password."""

    path = "/monitoring"
    tags = ["monitoring"]
    guards = [monitoring_guard]

    @get("/", summary="The monitoring dashboard (HTML page)", media_type=MediaType.HTML, operation_id="getDashboard",
         responses=problem_responses(401), security=[{"AdminKey": []}, {"MonitoringPassword": []}])
    async def page(self, request: Request[Any, Any, Any]) -> Response[bytes] | Redirect:
        """The page; it reads `api/metrics` every 5 s. `/monitoring` redirects here (relative asset URLs)."""
        raw_path: bytes = request.scope.get("raw_path") or b"/"  # Litestar strips the trailing slash from `path`
        if not raw_path.endswith(b"/"):
            return Redirect(path="/monitoring/")
        return Response(_page(), media_type=MediaType.HTML,
                        headers={"Content-Security-Policy": PAGE_POLICY, "Cache-Control": "no-store"})

    @get("/api/metrics", summary="Every dashboard figure and panel, as one JSON document",
         operation_id="getMonitoringDocument",
         responses=problem_responses(401), security=[{"AdminKey": []}, {"MonitoringPassword": []}])
    async def metrics(self, request: Request[Any, Any, Any]) -> Response[MonitoringDocument]:
        """Traffic of every worker (about a second behind), dependencies, tenants, health and background work."""
        document: MonitoringDocument = await request.app.state.dashboard.document()
        return Response(document, headers={"Cache-Control": "no-store"})


def monitoring_routes() -> list[ControllerRouterHandler]:
    """The dashboard's controller and the router of its static assets (same protection)."""
    assets = create_static_files_router(path="/monitoring/static", directories=[STATIC_DIR], guards=[monitoring_guard],
                                        include_in_schema=False, name="monitoring-static")
    return [MonitoringController, assets]
