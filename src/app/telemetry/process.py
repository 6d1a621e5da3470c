"""The process-wide part of telemetry: made once per process, before any app or command runs.

Logging sinks, the tracer provider and the SQL/Redis instrumentations belong to the process, not
to one app: a process may build several apps (the tests do), and a command builds none. So they
are set up by one explicit call: `app run` and `app dev` make it for the server process (and each
worker makes it for itself), the CLIs make it through their preamble (`app.console`).
"""

from __future__ import annotations

from typing import TextIO

from app.settings import Settings
from app.telemetry.logging import configure_logging
from app.telemetry.tracing import install_tracer_provider


def set_up_process(settings: Settings, stream: TextIO | None = None, traces: bool = True) -> None:
    """Log JSON lines to `stream` (default stdout) and LOG_DIR; with `traces`, install tracing from OTEL_*.

    The admin key, the monitoring password, the metrics token and the Redis record keys are scrubbed
    from every log line. Tracing is installed at most once per process (`OTEL_SDK_DISABLED=true`
    leaves it off); the CLIs, which serve no requests, pass `traces=False`.
    """
    record_keys = [key.strip() for key in settings.redis_record_keys.split(",") if key.strip()]
    secrets = (settings.admin_api_key, settings.monitoring_password, settings.metrics_token, *record_keys)
    configure_logging(settings.log_level, settings.log_dir, secrets, stream)
    if traces:
        install_tracer_provider()
