"""Benchmark: the service's GET /items against a bare Litestar + asyncpg baseline (SPEC L2).

    uv run python bench/run.py [--telemetry compare|on|off|dashboard] [--duration 10] [--connections 32] [--rounds 2]

`--telemetry compare` (the default) measures three sides in alternating rounds: the baseline, the
service with telemetry off and the service with full telemetry (spans exported to a local OTLP sink).
`--telemetry dashboard` measures the baseline and the service with telemetry on (no exporter), with
the dashboard's request recording off and on: the recording's own cost.

See bench/README.md for what is compared and how to read the output.
"""

from __future__ import annotations

import argparse
import atexit
import os
import platform
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import fixtures
from load import Figures, LoadSpec, check_clean, require_wrk, run_wrk
from processes import BenchError, Server, cpu_seconds, ensure_port_free, spawn, stop, wait_ready
from report import BASELINE, OFF, ON, PLAIN, RECORDING, table, write_json
from sides import (
    OFF_ENV,
    ON_ENV,
    PLAIN_ENV,
    RECORDING_ENV,
    final_sink_counts,
    log_check,
    metrics_check,
    off_env,
    on_env,
    plain_env,
    recording_check,
    recording_env,
    require_exports,
    start_sink,
)

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
LIST_PATH = f"/items?limit={fixtures.ITEM_COUNT}"
SIDES = {"compare": (BASELINE, OFF, ON), "on": (BASELINE, ON), "off": (BASELINE, OFF),
         "dashboard": (BASELINE, PLAIN, RECORDING)}
"""The sides each --telemetry mode measures, in the order every round runs them."""
SETTLE_SECONDS = 1.0
"""Pause after each wrk run, so the telemetry-on side's exporter drains its queue before the next side runs."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options (all have defaults)."""
    parser = argparse.ArgumentParser(description="Compare the service's GET /items with a bare Litestar+asyncpg app.")
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured wrk run (default 10)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per side (default 2)")
    parser.add_argument("--warmup", type=int, default=2, help="warm-up seconds per side (default 2)")
    parser.add_argument(
        "--telemetry",
        choices=sorted(SIDES),
        default="compare",
        help="service with full telemetry (on), without (off), both side by side (compare, default), or "
        "without telemetry, with and without the dashboard's recording (dashboard)",
    )
    parser.add_argument(
        "--traces-sampler",
        default="",
        help="OTEL_TRACES_SAMPLER of the telemetry-on side (default: unset, the service's own default, "
        "parent-based, at most 10 new traces a second; parentbased_always_on records every request)",
    )
    parser.add_argument("--service-port", type=int, default=8701, help="the telemetry-on service (default 8701)")
    parser.add_argument("--baseline-port", type=int, default=8702)
    parser.add_argument("--service-off-port", type=int, default=8703, help="the telemetry-off service (default 8703)")
    parser.add_argument("--sink-port", type=int, default=8704, help="the OTLP/HTTP sink (default 8704)")
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "latest.json", help="JSON result file")
    parser.add_argument(
        "--pgbouncer",
        action="store_true",
        help="every side reaches the embedded PostgreSQL through a private PgBouncer in transaction mode "
        "(Debian `pgbouncer`), with DB_STATEMENT_CACHE_SIZE=0 (not with DATABASE_URL: point that at your pooler)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the whole benchmark; 0 on success, 1 on a failed run, 2 when wrk is missing."""
    args = parse_args(argv)
    try:
        require_wrk()
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    quiet_logs()
    signal.signal(signal.SIGTERM, _terminated)  # so the finally below stops the servers
    servers: list[Server] = []
    try:
        return bench(args, servers)
    except BenchError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench: interrupted; stopping the servers", file=sys.stderr)
        return 130
    finally:
        stop_all(servers)


def stop_all(servers: list[Server]) -> None:
    """Stop every server; a second Ctrl-C or SIGTERM must not cut this short and orphan one."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    for server in servers:
        stop(server)


def _terminated(signum: int, _frame: object) -> None:
    print("bench: terminated; stopping the servers", file=sys.stderr)
    sys.exit(128 + signum)


def quiet_logs() -> None:
    """Keep the app's set-up logs (migrations, tenant creation) and library warnings off the output."""
    from app.telemetry.logging import configure_logging

    configure_logging(os.environ.get("BENCH_LOG_LEVEL", "WARNING"), stream=sys.stderr)  # stdout is the report
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")


def bench(args: argparse.Namespace, servers: list[Server]) -> int:
    """Prepare data, start the sides (appended to `servers`), measure, check the telemetry, report."""
    sides = SIDES[args.telemetry]
    load_at_start = [round(load, 2) for load in os.getloadavg()]
    ports = {BASELINE: args.baseline_port, OFF: args.service_off_port, ON: args.service_port,
             PLAIN: args.service_off_port, RECORDING: args.service_port}
    for port in [ports[side] for side in sides] + ([args.sink_port] if ON in sides else []):
        ensure_port_free(port)
    scratch = Path(tempfile.mkdtemp(prefix="cobreja-bench-"))
    atexit.register(shutil.rmtree, scratch, True)  # registered first, so it runs after the servers stop
    if args.pgbouncer and os.environ.get("DATABASE_URL"):
        print("bench: --pgbouncer starts a pooler in front of the embedded PostgreSQL; with DATABASE_URL set, "
              "point DATABASE_URL at your own pooler and set DB_STATEMENT_CACHE_SIZE=0 instead", file=sys.stderr)
        return 2
    database_url, redis_url, origin = fixtures.database_urls(scratch)
    if args.pgbouncer:
        database_url = fixtures.behind_pgbouncer(database_url, scratch / "pgbouncer")
        origin += ", through PgBouncer (transaction mode, DB_STATEMENT_CACHE_SIZE=0)"
    say(f"databases: {origin}")
    token = fixtures.tenant_token(database_url, redis_url)
    env = server_env(database_url, redis_url)
    sink = None
    if ON in sides:
        sink = start_sink(args.sink_port, env, RESULTS_DIR)
        servers.append(sink)
        wait_ready(sink, "/stats", {})
    started = {side: start_side(side, ports[side], env, args.sink_port, args.traces_sampler) for side in sides}
    servers.extend(started.values())
    for side, server in started.items():
        wait_ready(server, "/items?limit=1" if side == BASELINE else "/health", {})
    services = [server for side, server in started.items() if side != BASELINE]
    created = fixtures.ensure_items(services[0].base_url, token)
    for service in services:
        fixtures.check_payloads(service.base_url, started[BASELINE].base_url, token)
    say(f"tenant {fixtures.TENANT!r}: {fixtures.ITEM_COUNT} items ({created} created now); all sides agree")
    spec = LoadSpec(duration=args.duration, connections=args.connections, threads=args.threads)
    targets = {side: (server, {} if side == BASELINE else {"X-TOKEN": token}) for side, server in started.items()}
    rounds = measure(targets, spec, args.rounds, args.warmup, sink)
    checks = telemetry_checks(started[ON], sink) if sink is not None else {}
    if RECORDING in started:
        checks["recording"] = recording_check(started[RECORDING], env["ADMIN_API_KEY"])
        say(f"dashboard recording: {checks['recording']['requests_recorded_today']:,} requests recorded today")
    print("\n" + table(rounds), flush=True)
    write_json(args.output, metadata(spec, args, origin, sides, load_at_start), rounds, checks)
    say(f"figures written to {args.output}")
    return 0


def telemetry_checks(service: Server, sink: Server) -> dict[str, Any]:
    """Prove the telemetry-on side paid for its telemetry: /metrics, the sink's exports, the access log.

    Stops that service first (its exporter flushes at shutdown), then the sink (which writes its
    counts). BenchError if /metrics lacks http_requests_total, the sink got nothing or no access line.
    """
    metrics = metrics_check(service)
    stop(service)
    counts = final_sink_counts(sink)
    require_exports(counts)
    log = log_check(service)
    requests = metrics["http_requests_total_items"]
    spans_per_request = round(counts["spans"] / requests, 2) if counts.get("spans") is not None and requests else None
    say(
        f"telemetry on: sink got {counts['export_requests']:,} exports, {counts['bytes'] / 1e6:,.1f} MB, "
        f"{counts['spans'] if counts['spans'] is not None else '?':,} spans "
        f"({spans_per_request} per GET /items served: {requests:,}); "
        f"/metrics {metrics['status']} with http_requests_total; "
        f"access log {log['access_lines']:,} lines ({log['bytes'] / 1e6:,.1f} MB), "
        f"{log['queue_full_warnings']} 'Queue full' span drops, {log['error_lines']} ERROR lines"
    )
    return {"sink": counts, "metrics": metrics, "log": log, "spans_per_items_request": spans_per_request}


def server_env(database_url: str, redis_url: str) -> dict[str, str]:
    """The environment every server gets: ours plus the databases and an admin key."""
    env = dict(os.environ, DATABASE_URL=database_url, REDIS_URL=redis_url)
    env.setdefault("ADMIN_API_KEY", secrets.token_urlsafe(32))
    return env


def start_side(side: str, port: int, env: dict[str, str], sink_port: int, sampler: str = "") -> Server:
    """Start one side; each service side gets its telemetry environment and its own log file."""
    if side == BASELINE:
        return start_baseline(port, env)
    envs = {ON: on_env(env, sink_port), RECORDING: recording_env(env), PLAIN: plain_env(env)}
    side_env = envs.get(side) or off_env(env)
    if side == ON and sampler:
        side_env["OTEL_TRACES_SAMPLER"] = sampler
    return start_service(side, port, side_env)


def start_service(name: str, port: int, env: dict[str, str]) -> Server:
    """`python -m app run` on 127.0.0.1:port, one worker (preflight, then uvicorn); output to <name>.log."""
    args = ["-m", "app", "run", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    return spawn(name, args, port, env, RESULTS_DIR / f"{name}.log")


def start_baseline(port: int, env: dict[str, str]) -> Server:
    """bench/baseline.py on 127.0.0.1:port with the service's default pool size."""
    from app.settings import Settings

    settings = Settings.from_env()
    args = [
        str(BENCH_DIR / "baseline.py"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--pool-min",
        str(settings.db_pool_min_size),
        "--pool-max",
        str(settings.db_pool_max_size),
    ]
    return spawn(BASELINE, args, port, env, RESULTS_DIR / "baseline.log")


def measure(
    targets: dict[str, tuple[Server, dict[str, str]]], spec: LoadSpec, rounds: int, warmup: int, sink: Server | None
) -> dict[str, list[Figures]]:
    """Warm each side up, then run them one after the other, alternating, `rounds` times each."""
    for side, (server, headers) in targets.items():
        check_clean(f"{side} warm-up", run_wrk(server.base_url + LIST_PATH, headers, spec, warmup))
        time.sleep(SETTLE_SECONDS)
    results: dict[str, list[Figures]] = {side: [] for side in targets}
    for number in range(1, rounds + 1):
        for side in round_order(list(targets), number):
            server, headers = targets[side]
            figures = measure_once(server, headers, spec, sink if side == ON else None)
            check_clean(side, figures)
            results[side].append(figures)
            sink_cpu = "" if figures.sink_cpu_percent is None else f"  sink CPU {figures.sink_cpu_percent:3.0f} %"
            say(
                f"round {number} {side:<11} {figures.rps:>9,.0f} req/s  p50 {figures.p50_ms:6.2f} ms  "
                f"p99 {figures.p99_ms:6.2f} ms  server CPU {figures.server_cpu_percent:3.0f} %{sink_cpu}  "
                f"({figures.requests} requests, 0 errors)"
            )
            time.sleep(SETTLE_SECONDS)
    return results


def round_order(sides: list[str], number: int) -> list[str]:
    """The baseline first, then the service sides, in reverse order every other round (A B, B A, ...).

    A machine that slows down during a round would otherwise always penalise the side measured last.
    """
    first, *services = sides
    return [first, *(services if number % 2 else services[::-1])]


def measure_once(server: Server, headers: dict[str, str], spec: LoadSpec, sink: Server | None) -> Figures:
    """One wrk run against `server`, with the CPU the server process (and the sink, if given) burnt meanwhile."""
    before, sink_before = cpu_seconds(server), cpu_seconds(sink) if sink else 0.0
    figures = run_wrk(server.base_url + LIST_PATH, headers, spec)
    cpu_percent = round(100 * (cpu_seconds(server) - before) / figures.seconds, 1)
    sink_percent = round(100 * (cpu_seconds(sink) - sink_before) / figures.seconds, 1) if sink else None
    return replace(figures, server_cpu_percent=cpu_percent, sink_cpu_percent=sink_percent)


def metadata(
    spec: LoadSpec, args: argparse.Namespace, origin: str, sides: tuple[str, ...], load_at_start: list[float]
) -> dict[str, Any]:
    """What the figures depend on: when, which commit, the load, the machine, the databases."""
    return {
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "commit": _git("rev-parse", "--short", "HEAD") + ("-dirty" if _git("status", "--porcelain") else ""),
        "load": {**asdict(spec), "rounds": args.rounds, "warmup_seconds": args.warmup, "tool": "wrk --latency"},
        "telemetry": args.telemetry,
        "request": {side: f"GET {LIST_PATH}" + ("" if side == BASELINE else " + X-TOKEN") for side in sides},
        "server": "uvicorn, 1 worker, uvicorn's own access_log off, log level warning",
        "side_env": {
            OFF: dict(OFF_ENV),
            PLAIN: dict(PLAIN_ENV),
            RECORDING: dict(RECORDING_ENV),
            ON: {**ON_ENV, "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{args.sink_port} (bench/otlp_sink.py)",
                 "OTEL_TRACES_SAMPLER": args.traces_sampler or "(unset: parent-based, at most 10 new traces a second)"},
        },
        "databases": origin,
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_at_start": load_at_start,
            "load_average_at_end": [round(load, 2) for load in os.getloadavg()],
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
    }


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=BENCH_DIR, capture_output=True, text=True, check=False)
    return done.stdout.strip()


def say(message: str) -> None:
    """One progress line on stdout, flushed at once."""
    print(f"bench: {message}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
