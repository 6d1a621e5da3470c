"""Fleet migration benchmark (issue 3, item 6): N tenants in a fresh embedded PostgreSQL, then

(a) a no-op run of `python -m app.migrate_tenants` over all of them,
(b) a run that applies one new additive migration (a temporary one) to all of them,
(c) tenant creation time, p50/p95 over `--creations` sequential `TenantService.create` calls.

    uv run python bench/migrations.py [--tenants 1000] [--jobs 4] [--creations 50]

(a) and (b) run the real CLI as a subprocess with `--json`; both its own `duration_seconds` and the
process's wall time (Python start-up and imports included) are printed. The temporary migration
lives in a scratch copy of the items migrations folder; the repository is never touched.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results" / "migrations.json"
CREATORS = 2
"""Concurrent creations while building the fleet (the tenant service's pool holds two connections)."""
GOALS = {"noop": 10.0, "additive": 60.0, "creation_p50_ms": 250.0}

RUNNER = """
import sys
import app.items.piccolo_app as items
if sys.argv[1]:
    items.APP_CONFIG.migrations_folder_path = sys.argv[1]
from app.migrate_tenants import main
main(sys.argv[2:], prog_name="migrate_tenants")
"""
"""`python -c RUNNER FOLDER ARGS...`: the CLI with the items migrations read from FOLDER (if given)."""

ADDITIVE_MIGRATION = '''
from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Varchar
from piccolo.columns.indexes import IndexMethod

ID = "2099-12-31T00:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "bench: one additive, nullable column"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="items", description=DESCRIPTION)
    manager.add_column(
        table_class_name="Item", tablename="item", column_name="bench_note", db_column_name="bench_note",
        column_class_name="Varchar", column_class=Varchar,
        params={"length": 100, "default": None, "null": True, "primary_key": False, "unique": False,
                "index": False, "index_method": IndexMethod.btree, "choices": None, "db_column_name": None,
                "secret": False},
        schema=None,
    )
    return manager
'''


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", type=int, default=1000, help="tenants in the fleet (default 1000)")
    parser.add_argument("--jobs", type=int, default=4, help="--jobs of the runner (default 4)")
    parser.add_argument("--creations", type=int, default=50, help="creations timed for (c) (default 50)")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="cobreja-bench-migrations-"))
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)  # runs after the servers stop (LIFO)
    from app.embedded import start_postgres, start_valkey

    urls = {"DATABASE_URL": start_postgres(scratch / "servers"), "REDIS_URL": start_valkey(scratch / "servers")}
    figures = run(args, urls, scratch)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"bench: figures written to {RESULTS}")
    return 0


def run(args: argparse.Namespace, urls: dict[str, str], scratch: Path) -> dict[str, Any]:
    """Build the fleet, then measure (a), (b) and (c); print each figure as it comes."""
    built = asyncio.run(with_service(urls, lambda service: build_fleet(service, args.tenants)))
    rate = args.tenants / built
    print(f"bench: {args.tenants} tenants created in {built:.1f} s ({rate:.0f}/s, {CREATORS} at a time)")
    noop = run_cli(urls, args.jobs, folder=None)
    report("(a) no-op run", args.tenants, noop, GOALS["noop"])
    folder = migrations_with_additive(scratch)
    additive = run_cli(urls, args.jobs, folder=folder)
    report("(b) one additive migration", args.tenants, additive, GOALS["additive"])
    assert additive["summary"]["applied"] == {"items:2099-12-31T00:00:00:000000": args.tenants}, additive["summary"]
    creation = asyncio.run(with_service(urls, lambda service: time_creations(service, args.creations), folder))
    met = "met" if creation["p50_ms"] <= GOALS["creation_p50_ms"] else "NOT met"
    print(f"(c) tenant creation over {args.creations} at {args.tenants} tenants: p50 {creation['p50_ms']:.0f} ms, "
          f"p95 {creation['p95_ms']:.0f} ms (goal p50 <= {GOALS['creation_p50_ms']:.0f} ms: {met})")
    return {"tenants": args.tenants, "jobs": args.jobs, "fleet_build_seconds": round(built, 2), "noop": noop,
            "additive": additive, "creation": creation, "cpus": os.cpu_count()}


def report(name: str, tenants: int, figure: dict[str, Any], goal: float) -> None:
    """One line: the runner's own time, the process's, and the goal."""
    met = "met" if figure["process_seconds"] <= goal else "NOT met"
    counts = figure["summary"]["tenants"]
    print(f"{name} over {tenants} tenants: runner {figure['runner_seconds']:.2f} s, process "
          f"{figure['process_seconds']:.2f} s, {tenants / figure['runner_seconds']:.0f} tenants/s "
          f"(migrated {counts['migrated']}, current {counts['current']}, failed {counts['failed']}; "
          f"goal <= {goal:.0f} s: {met})")


def run_cli(urls: dict[str, str], jobs: int, folder: Path | None) -> dict[str, Any]:
    """Run the migration CLI once with --json; its summary, its own duration and the process wall time."""
    env = {**os.environ, **urls, "LOG_LEVEL": "WARNING"}
    command = [sys.executable, "-c", RUNNER, str(folder or ""), "--json", "--jobs", str(jobs)]
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"bench: the runner exited {done.returncode}:\n{done.stderr[-3000:]}\n{done.stdout[-3000:]}")
    summary = json.loads(done.stdout)
    return {"runner_seconds": summary["duration_seconds"], "process_seconds": round(elapsed, 3), "summary": summary}


def migrations_with_additive(scratch: Path) -> Path:
    """A scratch copy of the items migrations plus one additive migration."""
    from app.items.piccolo_app import APP_CONFIG

    folder = scratch / "items_migrations"
    shutil.copytree(APP_CONFIG.resolved_migrations_folder_path, folder, ignore=shutil.ignore_patterns("__pycache__"))
    (folder / "items_2099_12_31t00_00_00_000000.py").write_text(ADDITIVE_MIGRATION)
    return folder


async def with_service(urls: dict[str, str], work: Callable[[Any], Awaitable[Any]], folder: Path | None = None) -> Any:
    """Run `work(service)` with the app's tenant service on the bench servers."""
    from app.items.piccolo_app import APP_CONFIG
    from app.settings import Settings
    from app.tenants import standalone_service

    if folder is not None:
        APP_CONFIG.migrations_folder_path = str(folder)
    settings = Settings.from_env(
        {}, database_url=urls["DATABASE_URL"], redis_url=urls["REDIS_URL"], log_level="WARNING"
    )
    async with standalone_service(settings) as service:
        return await work(service)


async def build_fleet(service: Any, count: int) -> float:
    """Create `count` tenants, CREATORS at a time; the seconds it took."""
    started = time.perf_counter()
    slugs = iter(f"fleet{number:05d}" for number in range(count))

    async def creator() -> None:
        for slug in slugs:
            await service.create(slug)

    await asyncio.gather(*(creator() for _ in range(CREATORS)))
    return time.perf_counter() - started


async def time_creations(service: Any, count: int) -> dict[str, float]:
    """Create `count` more tenants one after the other; p50/p95/max in milliseconds."""
    timings = []
    for number in range(count):
        started = time.perf_counter()
        await service.create(f"timed{number:03d}")
        timings.append((time.perf_counter() - started) * 1000)
    cuts = statistics.quantiles(timings, n=20, method="inclusive")
    return {"count": count, "p50_ms": round(statistics.median(timings), 1), "p95_ms": round(cuts[18], 1),
            "max_ms": round(max(timings), 1)}


if __name__ == "__main__":
    from app.telemetry.logging import configure_logging

    configure_logging("WARNING")
    sys.exit(main())
