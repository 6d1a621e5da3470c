"""CPU per request of the service, in process, one telemetry configuration at a time (and the dashboard's recording).

    uv run python bench/cpu.py                         # every side, 3 rounds of 12,000 requests
    uv run python bench/cpu.py off on --rounds 5

Where `bench/run.py` measures throughput over HTTP (and answers whether a goal is met), this
answers *where* the CPU goes: each side is a fresh process that builds the app with `worker_app`
(as an `app run` worker does), runs its lifespan, and drives `GET /items?limit=20` through the ASGI
callable itself, 32 requests at a time, with no server and no network client in the process. It
reports the process's CPU time per request (all threads, the span exporter's included) and the part
the garbage collector took (timed by `gc.callbacks`). Rounds alternate the sides, and each side's
figure is compared with `off` of the same round, so drifts of a shared machine cancel out.
PostgreSQL and Valkey run embedded (or `DATABASE_URL` / `REDIS_URL`); spans go to
`bench/otlp_sink.py`.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
OFF = {"OTEL_SDK_DISABLED": "true", "METRICS_ENABLED": "false", "ACCESS_LOG": "false", "LOG_LEVEL": "WARNING",
       "MONITORING_RECORDING": "false"}
TRACING = {**OFF, "OTEL_SDK_DISABLED": "false"}
SIDES: dict[str, dict[str, str]] = {
    "off": OFF,
    "on": {"METRICS_ENABLED": "true", "ACCESS_LOG": "true", "LOG_LEVEL": "INFO", "MONITORING_RECORDING": "true"},
    "on-unrecorded": {"METRICS_ENABLED": "true", "ACCESS_LOG": "true", "LOG_LEVEL": "INFO",
                      "MONITORING_RECORDING": "false"},
    "metrics": {**OFF, "METRICS_ENABLED": "true"},
    "recording": {**OFF, "MONITORING_RECORDING": "true"},
    "access-log": {**OFF, "ACCESS_LOG": "true", "LOG_LEVEL": "INFO"},
    "tracing-unrecorded": {**TRACING, "OTEL_TRACES_SAMPLER_ARG": "0"},
    "tracing": TRACING,
    "tracing-always": {**TRACING, "OTEL_TRACES_SAMPLER": "parentbased_always_on"},
}
"""Each side's telemetry settings; every side with tracing exports to the sink."""
CLEARED = ("LOG_DIR", "LOG_LEVEL", "ACCESS_LOG", "METRICS_ENABLED", "MONITORING_RECORDING")


def main() -> int:
    """Parse arguments; run as the parent (sides in rounds) or as one side's child."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sides", nargs="*", default=list(SIDES), help=f"sides to measure (default: {list(SIDES)})")
    parser.add_argument("--requests", type=int, default=12_000, help="measured requests per side and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(asyncio.run(measure(args.requests))))
        return 0
    unknown = [side for side in args.sides if side not in SIDES]
    if unknown:
        parser.error(f"unknown side(s) {unknown}; choose from {list(SIDES)}")
    sides = ["off", *[side for side in args.sides if side != "off"]]
    report(run_rounds(sides, args.requests, args.rounds))
    return 0


# --------------------------------------------------------------------------- the child: one side


class GcClock:
    """Time spent in the cyclic garbage collector, from gc.callbacks."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0
        gc.callbacks.append(self._tick)

    def _tick(self, phase: str, _: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started


async def measure(requests: int, concurrency: int = 32) -> dict[str, Any]:
    """Warm the app up, then CPU and GC time per request over `requests` GET /items."""
    from app.asgi import worker_app  # imported here, in the side's process and environment

    app = worker_app()  # set up as a server worker is: logs, tracing, then the app
    token = os.environ["BENCH_TOKEN"].encode()
    statuses: dict[int, int] = {}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses[message["status"]] = statuses.get(message["status"], 0) + 1

    async def client(count: int) -> None:
        for _ in range(count):
            scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
                     "scheme": "http", "path": "/items", "raw_path": b"/items", "query_string": b"limit=20",
                     "root_path": "", "headers": [(b"host", b"bench"), (b"x-token", token), (b"user-agent", b"cpu")],
                     "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 8000)}
            await app(scope, receive, send)  # type: ignore[arg-type]

    per_client = max(requests // concurrency, 1)
    async with app.lifespan():
        await asyncio.gather(*(client(100) for _ in range(concurrency)))  # warm-up: caches, pool, statements
        clock = GcClock()
        cpu = time.process_time()
        await asyncio.gather(*(client(per_client) for _ in range(concurrency)))
        await asyncio.sleep(1.0)  # the exporter and the log flush finish their share of the work
        cpu = time.process_time() - cpu
    done = per_client * concurrency
    if set(statuses) != {200}:
        raise SystemExit(f"unexpected statuses {statuses}")
    return {"cpu_us": cpu / done * 1e6, "gc_us": clock.seconds / done * 1e6}


# --------------------------------------------------------------------------- the parent: rounds


def run_rounds(sides: list[str], requests: int, rounds: int) -> dict[str, list[dict[str, Any]]]:
    """Every side once per round, in order; the databases, tenant and sink set up once."""
    sys.path.insert(0, str(BENCH_DIR))
    import fixtures

    scratch = Path(tempfile.mkdtemp(prefix="cobreja-cpu-"))
    database_url, redis_url, origin = fixtures.database_urls(scratch)
    print(f"cpu: {origin}", flush=True)
    token = fixtures.tenant_token(database_url, redis_url)
    asyncio.run(top_up_items(database_url))
    sink_port = 8799
    sink = subprocess.Popen([sys.executable, str(BENCH_DIR / "otlp_sink.py"), "--port", str(sink_port), "--stats",
                             str(scratch / "sink.json")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_") and k not in CLEARED}
    base |= {"DATABASE_URL": database_url, "REDIS_URL": redis_url, "BENCH_TOKEN": token,
             "ADMIN_API_KEY": "bench-cpu-admin-key-0123456789abcdef",
             "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{sink_port}"}
    results: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
    try:
        for number in range(1, rounds + 1):
            for side in sides:
                figures = run_side({**base, **SIDES[side]}, requests)
                results[side].append(figures)
                print(f"cpu: round {number} {side:<20} {figures['cpu_us']:7.1f} µs CPU per request "
                      f"({figures['gc_us']:.1f} in gc)", flush=True)
    finally:
        sink.terminate()
        sink.wait()
    return results


def run_side(env: dict[str, str], requests: int) -> dict[str, Any]:
    """One side in a fresh process; its figures."""
    done = subprocess.run([sys.executable, __file__, "--child", "--requests", str(requests)], env=env,
                          capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith('{"cpu_us"')]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"a side failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    figures: dict[str, Any] = json.loads(lines[-1])
    return figures


async def top_up_items(database_url: str) -> None:
    """Tenant `bench` holds 20 items, like bench/run.py's."""
    import asyncpg

    connection = await asyncpg.connect(database_url)
    try:
        count = await connection.fetchval("SELECT count(*) FROM tenant_bench.item")
        for number in range(count, 20):
            await connection.execute("INSERT INTO tenant_bench.item (title, description, status) "
                                     "VALUES ($1, $2, 'pending')", f"Bench item {number}", "cpu bench")
    finally:
        await connection.close()


def report(results: dict[str, list[dict[str, Any]]]) -> None:
    """Per side: median CPU and GC per request, and the median of its paired difference with `off`."""
    off = [figures["cpu_us"] for figures in results["off"]]
    print(f"\n{'side':<20} {'CPU µs/request':>15} {'vs off':>9} {'gc µs':>7}")
    for side, rounds in results.items():
        cpu = statistics.median(figures["cpu_us"] for figures in rounds)
        gc_us = statistics.median(figures["gc_us"] for figures in rounds)
        paired = statistics.median(figures["cpu_us"] - base for figures, base in zip(rounds, off, strict=True))
        print(f"{side:<20} {cpu:15.1f} {'' if side == 'off' else f'{paired:+9.1f}':>9} {gc_us:7.1f}")


if __name__ == "__main__":
    sys.exit(main())
