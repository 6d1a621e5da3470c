"""Monitoring: health checks, the built-in dashboard (its recorder, Redis aggregates, page and JSON API)."""

from app.monitoring.assembly import dashboard, recorder_for
from app.monitoring.checks import HealthMonitor
from app.monitoring.health import HealthController
from app.monitoring.routes import monitoring_routes

__all__ = ["HealthController", "HealthMonitor", "dashboard", "monitoring_routes", "recorder_for"]
