"""Drive one URL with wrk and read its figures (through wrk_report.lua's JSON line)."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from processes import BenchError

REPORT_SCRIPT = Path(__file__).with_name("wrk_report.lua")
MARKER = "BENCH_JSON "


@dataclass(frozen=True)
class LoadSpec:
    """How hard and how long to push: the same for every side."""

    duration: int
    connections: int
    threads: int


@dataclass(frozen=True)
class Figures:
    """What one wrk run measured."""

    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: dict[str, int]
    server_cpu_percent: float | None = None
    """CPU the server process used during the run (100 = one core busy all the time)."""
    sink_cpu_percent: float | None = None
    """CPU the OTLP sink used during the run (telemetry-on side only)."""

    def as_dict(self) -> dict[str, Any]:
        """Plain data for the JSON report."""
        return asdict(self)


def require_wrk() -> str:
    """The path of wrk, or BenchError telling how to install it."""
    path = shutil.which("wrk")
    if path is None:
        raise BenchError("wrk is not installed: run `apt-get install wrk` (Debian/Ubuntu), then retry.")
    return path


def run_wrk(url: str, headers: Mapping[str, str], spec: LoadSpec, duration: int | None = None) -> Figures:
    """Run wrk against `url` for `duration` (default: spec's) seconds and return its figures."""
    seconds = spec.duration if duration is None else duration
    command = [
        require_wrk(),
        "--latency",
        "-t",
        str(spec.threads),
        "-c",
        str(spec.connections),
        "-d",
        f"{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(REPORT_SCRIPT),
    ]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    done = subprocess.run([*command, url], capture_output=True, text=True, timeout=seconds + 60, check=False)
    if done.returncode != 0:
        raise BenchError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
    figures = parse_report(done.stdout)
    if figures.seconds < 0.9 * seconds:
        raise BenchError(f"wrk stopped after {figures.seconds:.1f} s of {seconds} s (interrupted?)")
    return figures


def parse_report(output: str) -> Figures:
    """Figures from wrk's output (the BENCH_JSON line printed by wrk_report.lua)."""
    lines = [line for line in output.splitlines() if line.startswith(MARKER)]
    if not lines:
        raise BenchError(f"no {MARKER.strip()} line in wrk's output:\n{output}")
    raw = json.loads(lines[-1][len(MARKER) :])
    seconds = raw["duration_us"] / 1e6
    latency = raw["latency_us"]
    return Figures(
        requests=raw["requests"],
        seconds=round(seconds, 3),
        rps=round(raw["requests"] / seconds, 1),
        p50_ms=latency["p50"] / 1000,
        p90_ms=latency["p90"] / 1000,
        p99_ms=latency["p99"] / 1000,
        max_ms=latency["max"] / 1000,
        errors=raw["errors"],
    )


def check_clean(side: str, figures: Figures) -> None:
    """BenchError unless the run had requests and no socket errors, timeouts or 4xx/5xx."""
    bad = {kind: count for kind, count in figures.errors.items() if count}
    if bad or figures.requests == 0:
        raise BenchError(f"{side}: wrk saw errors {bad or {}} in {figures.requests} requests; figures are void")
