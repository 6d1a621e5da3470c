"""Monitoring: health checks and their endpoints (the monitoring API and dashboard will join them here)."""

from app.monitoring.checks import HealthMonitor
from app.monitoring.health import HealthController

__all__ = ["HealthController", "HealthMonitor"]
