"""Apply Piccolo migrations to one schema: the one path the fleet runner, tenant creation and start-up use.

Each schema keeps its own Piccolo `migration` table. Piccolo's `TableExists` does not filter by
schema, so we create that table ourselves with `IF NOT EXISTS` under the schema's search_path,
and drive the migration modules directly (the same steps as Piccolo's ForwardsMigrationManager)
inside the caller's transaction, so DDL and ledger rows commit or roll back together.

A schema is migrated under `pg_advisory_xact_lock` on its name, and what already ran is read
*after* the lock is held: two processes migrating the same schema serialise, and the second one
finds the first one's work committed instead of applying it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
from loguru import logger
from piccolo.apps.migrations.auto import migration_manager as _piccolo_manager_module
from piccolo.apps.migrations.tables import Migration

from app.db import ENGINE, quote_ident
from app.piccolo_conf import SHARED_APPS, TENANT_APPS
from app.tenants.fleet import ledger
from app.tenants.fleet.ledger import Attempt
from app.tenants.fleet.plan import MigrationPlan, PlannedMigration, load_plan
from app.tenants.naming import SHARED_SCHEMA

MIGRATION_LOCK = "hashtext('cobreja:migrate:' || $1)"
"""The advisory lock key of schema $1's migrations: held exclusively to migrate, shared to clone."""
LOCK_AND_ENTER = f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK}), set_config('search_path', $2, true)"
"""Take the schema's migration lock, then scope the transaction to it (one round trip)."""
HOLD_SHARED = f"SELECT pg_advisory_xact_lock_shared({MIGRATION_LOCK})"
"""Wait for a migration of the schema in progress, and keep the next one out until commit."""
ENTER_READ_ONLY = "SELECT set_config('search_path', $1, true), set_config('transaction_read_only', 'on', true)"
"""Scope a read-only look at a schema (`--check`): no lock, and PostgreSQL refuses any write."""
_EXISTENCE = "SELECT to_regnamespace($1) IS NOT NULL AS has_schema, to_regclass('migration') IS NOT NULL AS has_table"
_APPLIED = "SELECT app_name, name FROM migration"


def _log_instead_of_print(*args: Any, **_: Any) -> None:
    """Piccolo's MigrationManager.run() prints progress; in a server that would break JSON logs."""
    logger.debug("piccolo: {}", " ".join(str(a) for a in args))


# Deliberate, narrow patch: only the migration manager module's `print` name is replaced.
_piccolo_manager_module.print = _log_instead_of_print  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class SchemaState:
    """What a schema holds, read inside its transaction."""

    exists: bool
    applied: frozenset[tuple[str, str]]
    """(app name, migration id) of every row in the schema's own `migration` table."""
    has_table: bool


class MigrationFailed(Exception):
    """A migration raised; the schema's transaction must roll back. Carries the ledger attempts."""

    def __init__(self, attempts: list[Attempt], not_attempted: list[PlannedMigration]) -> None:
        failed = attempts[-1]
        super().__init__(f"{failed.app_name}:{failed.migration_id}: {failed.error}")
        self.attempts = attempts
        """The migrations this transaction ran, the last one `failed`, the others `rolled_back`."""
        self.failed = failed
        self.still_pending = [f"{a.app_name}:{a.migration_id}" for a in attempts] + [m.label for m in not_attempted]
        """`app:id` of every migration the schema still lacks."""


async def enter_schema(connection: asyncpg.Connection, schema: str) -> None:
    """Lock `schema` for migration and set the transaction's search_path to it."""
    await connection.execute(LOCK_AND_ENTER, schema, quote_ident(schema))


async def hold_migration_lock_shared(connection: asyncpg.Connection, schema: str) -> None:
    """Share `schema`'s migration lock for the transaction: readers side by side, never mid-migration."""
    await connection.execute(HOLD_SHARED, schema)


async def read_state(connection: asyncpg.Connection, schema: str) -> SchemaState:
    """Whether the current schema exists and which migrations its `migration` table lists."""
    has_schema, has_table = (await connection.fetch(_EXISTENCE, quote_ident(schema)))[0]
    applied: frozenset[tuple[str, str]] = frozenset()
    if has_table:
        applied = frozenset((r["app_name"], r["name"]) for r in await connection.fetch(_APPLIED))
    return SchemaState(exists=has_schema, applied=applied, has_table=has_table)


def pending(plan: MigrationPlan, applied: frozenset[tuple[str, str]]) -> list[PlannedMigration]:
    """The migrations of `plan` not in `applied`, in plan order."""
    return [migration for migration in plan if migration.key not in applied]


async def apply_pending(migrations: list[PlannedMigration], has_table: bool) -> list[Attempt]:
    """Run `migrations` under the current search_path; one Attempt each, all `applied`.

    Must run inside a transaction whose search_path is the target schema. Raises MigrationFailed
    (the earlier attempts marked `rolled_back`, the failing one `failed`) if one of them raises.
    """
    if migrations and not has_table:
        await Migration.create_table(if_not_exists=True)
    attempts: list[Attempt] = []
    for index, migration in enumerate(migrations):
        started = datetime.now(UTC)
        try:
            await _apply_one(migration)
        except Exception as exc:  # any error of a migration fails it; the caller rolls back
            undone = [_rolled_back(attempt, migration) for attempt in attempts]
            failed = Attempt(migration.app_name, migration.migration_id, "failed", started, datetime.now(UTC),
                             f"{type(exc).__name__}: {exc}")
            raise MigrationFailed([*undone, failed], migrations[index + 1 :]) from exc
        attempts.append(Attempt(migration.app_name, migration.migration_id, "applied", started, datetime.now(UTC)))
    return attempts


async def _apply_one(migration: PlannedMigration) -> None:
    manager = await migration.module.forwards()
    await manager.run()
    await Migration.insert(Migration(name=migration.migration_id, app_name=migration.app_name))


def _rolled_back(attempt: Attempt, cause: PlannedMigration) -> Attempt:
    error = f"rolled back: {cause.app_name}:{cause.migration_id} failed later in the same transaction"
    return Attempt(attempt.app_name, attempt.migration_id, "rolled_back", attempt.started_at, attempt.finished_at,
                   error)


async def migrate_schema(schema: str, plan: MigrationPlan, *, create: bool = False, run_id: str | None = None,
                         slug: str | None = None) -> list[Attempt] | None:
    """Apply `plan`'s pending migrations to `schema` in one transaction, under its migration lock.

    Joins the caller's transaction if there is one (tenant creation), so everything is atomic.
    `create` makes a missing schema; otherwise a missing schema returns None. With `run_id`, the
    attempts are written to the ledger in the same transaction. Raises MigrationFailed.
    """
    async with ENGINE.transaction() as transaction:
        connection = transaction.connection
        await enter_schema(connection, schema)
        if create:
            await connection.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(schema)}")
        state = await read_state(connection, schema)
        if not state.exists:
            return None
        attempts = await apply_pending(pending(plan, state.applied), state.has_table)
        if run_id is not None:
            await ledger.record(run_id, slug, schema, attempts)
    return attempts


async def bring_up_to_date(schema: str, app_modules: list[str]) -> list[str]:
    """Create `schema` if missing and apply every pending migration of `app_modules`; the ids applied.

    For tenant creation, the template and start-up: the migration's own error is raised as it is.
    """
    try:
        attempts = await migrate_schema(schema, load_plan(app_modules), create=True) or []
    except MigrationFailed as exc:
        raise exc.__cause__ or exc from None
    applied = [attempt.migration_id for attempt in attempts]
    if applied:
        logger.info("schema {} migrated: {}", schema, ", ".join(applied))
    return applied


async def migrate_shared() -> list[str]:
    """Bring the shared schema (the registry) up to date."""
    return await bring_up_to_date(SHARED_SCHEMA, SHARED_APPS)


async def migrate_tenant_schema(schema: str) -> list[str]:
    """Bring one tenant schema up to date with every tenant app."""
    return await bring_up_to_date(schema, TENANT_APPS)
