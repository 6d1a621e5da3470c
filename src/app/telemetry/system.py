"""The machine's CPU, memory and disk use: read by the metrics sampler and the detailed health check."""

from __future__ import annotations

import psutil


def system_usage() -> dict[str, float]:
    """CPU, memory and disk use of the machine, in percent."""
    return {
        "cpu": psutil.cpu_percent(interval=None),
        "memory": psutil.virtual_memory().percent,
        "disk": psutil.disk_usage("/").percent,
    }
