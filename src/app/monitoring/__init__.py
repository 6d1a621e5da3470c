"""Monitoring: health checks and their endpoints."""

from app.monitoring.checks import HealthMonitor
from app.monitoring.health import HealthController

__all__ = ["HealthController", "HealthMonitor"]
