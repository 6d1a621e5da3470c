"""`/health` (liveness) and `/health/ready` (readiness), public; `/health/detailed` (O4) for operators."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get

from app.errors import ServiceUnavailable, problem
from app.monitoring.checks import check_database
from app.monitoring.credentials import monitoring_guard
from app.openapi import problem_responses


class HealthController(Controller):
    """Health endpoints for load balancers, orchestrators and operators."""

    path = "/health"
    tags = ["health"]

    @get("/", summary="Liveness: the process answers", operation_id="getLiveness")
    async def live(self) -> dict[str, str]:
        """Answers without touching any dependency."""
        return {"status": "ok"}

    @get("/ready", summary="Readiness: PostgreSQL runs what requests need", responses=problem_responses(503),
         operation_id="getReadiness")
    async def ready(self) -> dict[str, Any]:
        """200 when PostgreSQL runs a tenant-like transaction twice within 1.5 s, else 503.

        503 at once while PostgreSQL is known unreachable. Redis down alone is still ready (R1).
        """
        database = await check_database()
        if database.status != "up":
            raise ServiceUnavailable(f"PostgreSQL does not run the statements the service needs ({database.error}); "
                                     "the service cannot serve requests.")
        return {"status": "ready", "database_ms": database.response_time_ms}

    @get("/detailed", summary="Every dependency, migrations and system usage", guards=[monitoring_guard],
         operation_id="getHealthReport",
         responses=problem_responses(401, 503), security=[{"AdminKey": []}, {"MonitoringPassword": []}])
    async def detailed(self, request: Request[Any, Any, Any]) -> dict[str, Any]:
        """`healthy`, `degraded` (Redis down) or `unhealthy` (PostgreSQL down: 503), with each check.

        Concurrent callers share one computation; the tenants' pending migrations are counted at
        most every 30 s (the last count is answered while a new one runs).
        """
        report: dict[str, Any] = await request.app.state.health.detailed()
        if report["status"] == "unhealthy":
            raise problem(503, "PostgreSQL does not answer; the service cannot serve requests.", "service-unavailable",
                          extra={"report": report}, headers={"Retry-After": "5"})
        return report
