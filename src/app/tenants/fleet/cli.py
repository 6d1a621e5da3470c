"""`python -m app.migrate_tenants`: apply pending migrations to the shared schema, then every tenant (T6).

A thin face over `app.tenants.fleet.run.run_migrations`. Exit codes: 0 every schema is current,
1 something failed or (with `--check`) is pending, or PostgreSQL is unreachable, 2 a usage error
(unknown tenant, malformed setting).
"""

from __future__ import annotations

import asyncio
import json
import sys
from contextlib import AbstractContextManager, nullcontext
from typing import NoReturn

import asyncpg
import click
from rich.console import Console

from app.console import FLEET_CLI, fail, prepare
from app.db import UnsafeSearchPath
from app.errors import UNAVAILABLE_ERRORS, DomainError
from app.settings import Settings
from app.tenants.fleet.progress import LineReporter, progress_bar, summary_lines
from app.tenants.fleet.run import DEFAULT_JOBS, RunObserver, RunOptions, SilentObserver, run_migrations, runner_pool
from app.tenants.fleet.summary import RunSummary

_ENVIRONMENT_ERRORS: tuple[type[Exception], ...] = (*UNAVAILABLE_ERRORS, asyncpg.PostgresError, OSError, TimeoutError)
"""Failures of the server or its configuration, not of one tenant (those are in the summary)."""


@click.command()
@click.option("--jobs", type=click.IntRange(1, 64), default=None,
              help=f"Tenants migrated at once [default: min({DEFAULT_JOBS}, DB_POOL_MAX_SIZE)].")
@click.option("--tenant", "tenants", multiple=True, metavar="SLUG", help="Only this tenant (repeatable).")
@click.option("--check", is_flag=True, help="Only list what is pending (exit 1 if anything is); write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON summary object on stdout.")
def main(jobs: int | None, tenants: tuple[str, ...], check: bool, as_json: bool) -> None:
    """Apply pending Piccolo migrations: the shared schema first, then every tenant schema."""
    settings = prepare(FLEET_CLI)
    options = RunOptions(jobs=jobs or min(DEFAULT_JOBS, settings.db_pool_max_size), tenants=tenants, check=check)
    console = Console()
    printed_lines = not as_json and not console.is_terminal
    summary = _run(settings, options, as_json, console)
    if as_json:
        click.echo(json.dumps(summary.as_dict()))
    else:
        # The line reporter has printed the shared schema's and the template's lines already.
        for line in summary_lines(summary, with_schemas=not printed_lines):
            click.echo(line)
    sys.exit(0 if summary.ok else 1)


def _fail(message: str, code: int, as_json: bool) -> NoReturn:
    """End the run with `message`: on stderr, and with --json also as a JSON object on stdout (for scripts)."""
    if as_json:
        click.echo(json.dumps({"ok": False, "exit_code": code, "error": message}))
    fail(message, code=code)


def _run(settings: Settings, options: RunOptions, as_json: bool, console: Console) -> RunSummary:
    """Run under a pool sized for the jobs; usage errors exit 2, an unreachable database 1."""
    display: AbstractContextManager[RunObserver]
    if as_json:
        display = nullcontext(SilentObserver())
    elif console.is_terminal:
        display = progress_bar(console)
    else:
        display = nullcontext(LineReporter(click.echo))

    async def run() -> RunSummary:
        async with runner_pool(settings, options.jobs):
            with display as progress:
                return await run_migrations(options, progress)

    try:
        return asyncio.run(run())
    except KeyboardInterrupt:  # every schema in flight rolled back; the next run resumes
        _fail("interrupted; schemas being migrated were rolled back, the next run resumes", 130, as_json)
    except DomainError as exc:
        _fail(exc.detail, 2, as_json)
    except UnsafeSearchPath as exc:
        _fail(f"PostgreSQL at DATABASE_URL is not safe to serve from: {exc}", 1, as_json)
    except _ENVIRONMENT_ERRORS as exc:
        _fail(f"PostgreSQL is unreachable ({type(exc).__name__}: {exc}); check DATABASE_URL", 1, as_json)
