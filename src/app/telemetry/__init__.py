"""Telemetry: traces (OpenTelemetry), metrics (Prometheus) and logs (loguru), as one Litestar plugin.

What other packages use is re-exported here; the modules behind it are this package's own.
Telemetry knows no domain: what it reports of tenancy (the registry's counts) is handed in.
"""

from app.telemetry.client_metrics import timed_redis
from app.telemetry.finished import FinishedRequest, RequestObserver
from app.telemetry.gauges import ReadRegistry, RegistryCounts
from app.telemetry.metrics import (
    UNMATCHED,
    ProcessCounts,
    auth_failures,
    auth_successes,
    normalized_method,
    process_counts,
    redis_records_rejected,
    token_cache_hits,
    token_cache_misses,
)
from app.telemetry.plugin import TelemetryConfig, TelemetryPlugin
from app.telemetry.process import set_up_process
from app.telemetry.system import system_usage
from app.telemetry.tracing import tracing_problems

__all__ = [
    "UNMATCHED",
    "FinishedRequest",
    "ProcessCounts",
    "ReadRegistry",
    "RegistryCounts",
    "RequestObserver",
    "TelemetryConfig",
    "TelemetryPlugin",
    "auth_failures",
    "auth_successes",
    "normalized_method",
    "process_counts",
    "redis_records_rejected",
    "set_up_process",
    "system_usage",
    "timed_redis",
    "token_cache_hits",
    "token_cache_misses",
    "tracing_problems",
]
