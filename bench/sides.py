"""The telemetry switch: each service side's environment, the OTLP sink, and the checks after a run.

`service-on` gets full telemetry (tracing exported to the sink, metrics, access log at INFO),
`service-off` none of it. The checks prove the `on` side really paid for its telemetry: the sink
received exports, `/metrics` counts requests, the access log was written.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from processes import BenchError, Server, spawn, stop

BENCH_DIR = Path(__file__).resolve().parent
CLEARED = ("LOG_DIR", "LOG_LEVEL", "ACCESS_LOG", "METRICS_ENABLED", "MONITORING_RECORDING")
"""Variables the bench always sets (or leaves unset) itself, whatever the caller's environment says."""
OFF_ENV = {"OTEL_SDK_DISABLED": "true", "METRICS_ENABLED": "false", "ACCESS_LOG": "false", "LOG_LEVEL": "WARNING",
           "MONITORING_RECORDING": "false"}
ON_ENV = {"METRICS_ENABLED": "true", "ACCESS_LOG": "true", "LOG_LEVEL": "INFO", "MONITORING_RECORDING": "true"}
PLAIN_ENV = {**ON_ENV, "MONITORING_RECORDING": "false"}
"""`--telemetry dashboard`'s reference: metrics, access log and tracing (sampled as by default, spans kept in
process: no exporter) on, the dashboard's recording off. The request layer runs on both dashboard sides, so
their difference is the recording alone."""
RECORDING_ENV = {**ON_ENV, "MONITORING_RECORDING": "true"}
"""As PLAIN_ENV, with the dashboard's recording on: the product's default configuration."""
ACCESS_MARK = b'"kind":"access"'
_ITEMS_REQUESTS = re.compile(r"^http_requests_total\{([^}]*)\}\s+([0-9.e+]+)", re.MULTILINE)


def clean_env(env: dict[str, str]) -> dict[str, str]:
    """`env` without any OTEL_* variable and without the telemetry settings the sides set themselves."""
    return {name: value for name, value in env.items() if not name.startswith("OTEL_") and name not in CLEARED}


def off_env(env: dict[str, str]) -> dict[str, str]:
    """Telemetry off: no spans, no metrics, no access log, no dashboard recording, warnings only."""
    return {**clean_env(env), **OFF_ENV}


def plain_env(env: dict[str, str]) -> dict[str, str]:
    """Telemetry on without an exporter, the dashboard's recording off."""
    return {**clean_env(env), **PLAIN_ENV}


def recording_env(env: dict[str, str]) -> dict[str, str]:
    """As `plain_env`, but the dashboard records every request (flushed to Redis every second)."""
    return {**clean_env(env), **RECORDING_ENV}


def on_env(env: dict[str, str], sink_port: int) -> dict[str, str]:
    """Full telemetry: spans (default sampler: every request) exported to the sink, metrics, access log at INFO."""
    return {**clean_env(env), **ON_ENV, "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{sink_port}"}


def start_sink(port: int, env: dict[str, str], results_dir: Path) -> Server:
    """bench/otlp_sink.py on 127.0.0.1:port; its counts land in results/otlp-sink.json when stopped."""
    stats = results_dir / "otlp-sink.json"
    stats.unlink(missing_ok=True)
    args = [str(BENCH_DIR / "otlp_sink.py"), "--port", str(port), "--stats", str(stats)]
    return spawn("otlp-sink", args, port, clean_env(env), results_dir / "otlp-sink.log")


def sink_counts(sink: Server) -> dict[str, Any]:
    """The sink's counts so far (GET /stats)."""
    with urllib.request.urlopen(sink.base_url + "/stats", timeout=5) as response:  # noqa: S310 (our own URL)
        return dict(json.loads(response.read()))


def final_sink_counts(sink: Server) -> dict[str, Any]:
    """Stop the sink (SIGTERM) and read the counts it wrote; BenchError if it wrote none."""
    stop(sink)
    stats = sink.log_path.with_name("otlp-sink.json")
    if not stats.exists():
        raise BenchError(f"the OTLP sink wrote no counts to {stats}:\n{sink.log_tail()}")
    return dict(json.loads(stats.read_text()))


def metrics_check(service: Server) -> dict[str, Any]:
    """GET /metrics on the telemetry-on side must answer 200 with http_requests_total; returns what it saw."""
    try:
        with urllib.request.urlopen(service.base_url + "/metrics", timeout=10) as response:  # noqa: S310
            status, text = response.status, response.read().decode(errors="replace")
    except (urllib.error.URLError, OSError) as exc:
        raise BenchError(f"GET /metrics on {service.name} failed: {exc}") from exc
    if status != 200 or "http_requests_total" not in text:
        raise BenchError(f"GET /metrics on {service.name}: status {status}, http_requests_total missing")
    items = sum(float(value) for labels, value in _ITEMS_REQUESTS.findall(text) if 'path="/items"' in labels)
    return {"status": status, "bytes": len(text), "http_requests_total_items": int(items)}


def log_check(service: Server) -> dict[str, Any]:
    """The telemetry-on side's log: size, access lines (at least one, or BenchError), dropped-span warnings."""
    data = service.log_path.read_bytes() if service.log_path.exists() else b""
    access_lines = data.count(ACCESS_MARK)
    if access_lines == 0:
        raise BenchError(f"{service.log_path} holds no access line ({ACCESS_MARK.decode()}): is ACCESS_LOG honoured?")
    return {
        "path": str(service.log_path),
        "bytes": len(data),
        "access_lines": access_lines,
        "queue_full_warnings": data.count(b"Queue full"),
        "error_lines": data.count(b'"level":"ERROR"'),
    }


def require_exports(counts: dict[str, Any]) -> None:
    """BenchError unless the sink received at least one export (else `on` was not really on)."""
    if not counts.get("export_requests"):
        raise BenchError(
            "the OTLP sink received no trace export: tracing was not exporting, so the telemetry-on "
            f"figures would be dishonest (sink counts: {counts})"
        )


def recording_check(service: Server, admin_key: str) -> dict[str, Any]:
    """The recording side's dashboard must have counted the requests (BenchError if it counted none)."""
    request = urllib.request.Request(service.base_url + "/monitoring/api/metrics",  # noqa: S310 (our own URL)
                                     headers={"X-ADMIN-KEY": admin_key})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            document = json.loads(response.read())
    except (urllib.error.URLError, OSError) as exc:
        raise BenchError(f"GET /monitoring/api/metrics on {service.name} failed: {exc}") from exc
    requests = int(document["totals"]["requests"])
    if not requests:
        raise BenchError(f"the dashboard of {service.name} recorded no request")
    return {"requests_recorded_today": requests, "endpoints": document["endpoints"][:3]}
