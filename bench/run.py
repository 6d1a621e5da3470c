"""Benchmark: the service's GET /items against a bare Litestar + asyncpg baseline (SPEC L2).

    uv run python bench/run.py [--duration 10] [--connections 32] [--threads 2] [--rounds 2]

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
from report import best, table, write_json

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
LIST_PATH = f"/items?limit={fixtures.ITEM_COUNT}"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options (all have defaults)."""
    parser = argparse.ArgumentParser(description="Compare the service's GET /items with a bare Litestar+asyncpg app.")
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured wrk run (default 10)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per side (default 2)")
    parser.add_argument("--warmup", type=int, default=2, help="warm-up seconds per side (default 2)")
    parser.add_argument("--service-port", type=int, default=8701)
    parser.add_argument("--baseline-port", type=int, default=8702)
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "latest.json", help="JSON result file")
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

    configure_logging(os.environ.get("BENCH_LOG_LEVEL", "WARNING"))
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")


def bench(args: argparse.Namespace, servers: list[Server]) -> int:
    """Prepare data, start both servers (appended to `servers`), measure, report."""
    for port in (args.service_port, args.baseline_port):
        ensure_port_free(port)
    scratch = Path(tempfile.mkdtemp(prefix="cobreja-bench-"))
    atexit.register(shutil.rmtree, scratch, True)  # registered first, so it runs after the servers stop
    database_url, redis_url, origin = fixtures.database_urls(scratch)
    say(f"databases: {origin}")
    token = fixtures.tenant_token(database_url, redis_url)
    env = server_env(database_url, redis_url)
    servers.append(start_service(args.service_port, env))
    servers.append(start_baseline(args.baseline_port, env))
    service, baseline = servers
    wait_ready(service, "/health", {})
    wait_ready(baseline, "/items?limit=1", {})
    created = fixtures.ensure_items(service.base_url, token)
    fixtures.check_payloads(service.base_url, baseline.base_url, token)
    say(f"tenant {fixtures.TENANT!r}: {fixtures.ITEM_COUNT} items ({created} created now); both sides agree")
    spec = LoadSpec(duration=args.duration, connections=args.connections, threads=args.threads)
    targets = {"baseline": (baseline, {}), "service": (service, {"X-TOKEN": token})}
    rounds = measure(targets, spec, args.rounds, args.warmup)
    print("\n" + table(best(rounds["service"]), best(rounds["baseline"])), flush=True)
    write_json(args.output, metadata(spec, args, origin), rounds)
    say(f"figures written to {args.output}")
    return 0


def server_env(database_url: str, redis_url: str) -> dict[str, str]:
    """The environment both servers get: ours plus the databases and an admin key."""
    env = dict(os.environ, DATABASE_URL=database_url, REDIS_URL=redis_url)
    env.setdefault("ADMIN_API_KEY", secrets.token_urlsafe(32))
    return env


def start_service(port: int, env: dict[str, str]) -> Server:
    """`python -m app run` on 127.0.0.1:port, one worker (preflight, then uvicorn)."""
    args = ["-m", "app", "run", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    return spawn("service", args, port, env, RESULTS_DIR / "service.log")


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
    return spawn("baseline", args, port, env, RESULTS_DIR / "baseline.log")


def measure(
    targets: dict[str, tuple[Server, dict[str, str]]], spec: LoadSpec, rounds: int, warmup: int
) -> dict[str, list[Figures]]:
    """Warm each side up, then run them one after the other, alternating, `rounds` times each."""
    for side, (server, headers) in targets.items():
        check_clean(f"{side} warm-up", run_wrk(server.base_url + LIST_PATH, headers, spec, warmup))
    results: dict[str, list[Figures]] = {side: [] for side in targets}
    for number in range(1, rounds + 1):
        for side, (server, headers) in targets.items():
            figures = measure_once(server, headers, spec)
            check_clean(side, figures)
            results[side].append(figures)
            say(
                f"round {number} {side:<8} {figures.rps:>9,.0f} req/s  p50 {figures.p50_ms:6.2f} ms  "
                f"p99 {figures.p99_ms:6.2f} ms  server CPU {figures.server_cpu_percent:3.0f} %  "
                f"({figures.requests} requests, 0 errors)"
            )
    return results


def measure_once(server: Server, headers: dict[str, str], spec: LoadSpec) -> Figures:
    """One wrk run against `server`, with the CPU the server process burnt meanwhile."""
    before = cpu_seconds(server)
    figures = run_wrk(server.base_url + LIST_PATH, headers, spec)
    cpu_percent = round(100 * (cpu_seconds(server) - before) / figures.seconds, 1)
    return replace(figures, server_cpu_percent=cpu_percent)


def metadata(spec: LoadSpec, args: argparse.Namespace, origin: str) -> dict[str, Any]:
    """What the figures depend on: when, which commit, the load, the machine, the databases."""
    return {
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "commit": _git("rev-parse", "--short", "HEAD") + ("-dirty" if _git("status", "--porcelain") else ""),
        "load": {**asdict(spec), "rounds": args.rounds, "warmup_seconds": args.warmup, "tool": "wrk --latency"},
        "request": {"service": f"GET {LIST_PATH} + X-TOKEN", "baseline": f"GET {LIST_PATH}"},
        "server": "uvicorn, 1 worker, access_log off, log level warning",
        "databases": origin,
        "machine": {
            "cpus": os.cpu_count(),
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
