"""Health checks (and, later, the monitoring API and dashboard)."""
