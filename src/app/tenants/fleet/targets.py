"""One schema of a fleet run: migrate it (or only inspect it) and say how it ended, as a SchemaResult.

One schema is one transaction: its advisory lock, its pending migrations, their `migration` rows
and their ledger rows commit together, or nothing of them does. A runner killed mid-way leaves
each schema either fully migrated or untouched, and the next run picks up where it stopped.
"""

from __future__ import annotations

import time

from app.db import ENGINE, STALE_STATEMENT_ERRORS, quote_ident
from app.tenants.fleet import ledger
from app.tenants.fleet.ledger import Attempt
from app.tenants.fleet.plan import MigrationPlan
from app.tenants.fleet.schema import ENTER_READ_ONLY, MigrationFailed, migrate_schema, pending, read_state
from app.tenants.fleet.summary import SchemaResult, Target
from app.tenants.tables import Tenant


async def migrate_target(target: Target, plan: MigrationPlan, run_id: str) -> SchemaResult:
    """Apply `plan`'s pending migrations to `target`; never raises for a failed migration.

    A missing shared schema is created; a missing template is skipped (tenant creation makes it);
    a missing tenant schema is skipped if the tenant is being deleted, failed otherwise.
    """
    started = time.perf_counter()
    try:
        attempts = await _migrate_retrying(target, plan, run_id)
    except MigrationFailed as exc:
        await ledger.record_apart(run_id, target.slug, target.schema, exc.attempts)
        return _failed(target, started, exc)
    except Exception as exc:  # lost connection, lock error...: this schema failed, the run goes on
        return SchemaResult(target, "failed", _ms(started), error=f"{type(exc).__name__}: {exc}")
    if attempts is None:
        return await _missing(target, started)
    applied = tuple(f"{a.app_name}:{a.migration_id}" for a in attempts)
    return SchemaResult(target, "migrated" if applied else "current", _ms(started), applied=applied)


async def _migrate_retrying(target: Target, plan: MigrationPlan, run_id: str) -> list[Attempt] | None:
    try:
        return await _migrate_once(target, plan, run_id)
    except MigrationFailed as exc:
        if not isinstance(exc.__cause__, STALE_STATEMENT_ERRORS):
            raise
    return await _migrate_once(target, plan, run_id)


async def _migrate_once(target: Target, plan: MigrationPlan, run_id: str) -> list[Attempt] | None:
    """The applied attempts (empty if current), or None if the schema does not exist."""
    return await migrate_schema(target.schema, plan, create=target.kind == "shared", run_id=run_id,
                                slug=target.slug)


async def check_target(target: Target, plan: MigrationPlan) -> SchemaResult:
    """What `target` lacks of `plan`, read in a read-only transaction (no lock, no writes)."""
    started = time.perf_counter()
    try:
        async with ENGINE.transaction() as transaction:
            await transaction.connection.execute(ENTER_READ_ONLY, quote_ident(target.schema))
            state = await read_state(transaction.connection, target.schema)
    except Exception as exc:  # report and go on, as a migrating run would
        return SchemaResult(target, "failed", _ms(started), error=f"{type(exc).__name__}: {exc}")
    if not state.exists and target.kind != "shared":  # a missing shared schema lacks everything
        return await _missing(target, started)
    todo = tuple(migration.label for migration in pending(plan, state.applied))
    return SchemaResult(target, "pending" if todo else "current", _ms(started), pending=todo)


async def _missing(target: Target, started: float) -> SchemaResult:
    """A tenant schema that does not exist: fine if its tenant is gone or being deleted."""
    if target.kind == "template":
        return SchemaResult(target, "skipped", _ms(started), error="no template schema yet")
    try:
        row = await Tenant.select(Tenant.status).where(Tenant.schema_name == target.schema).first()
    except Exception as exc:  # report and go on
        return SchemaResult(target, "failed", _ms(started), error=f"{type(exc).__name__}: {exc}")
    if row is None or row["status"] == "deleting":
        return SchemaResult(target, "skipped", _ms(started), error="tenant deleted during the run")
    return SchemaResult(target, "failed", _ms(started), error=f"schema {target.schema} does not exist")


def _failed(target: Target, started: float, exc: MigrationFailed) -> SchemaResult:
    return SchemaResult(
        target,
        "failed",
        _ms(started),
        pending=tuple(exc.still_pending),
        failed_migration=f"{exc.failed.app_name}:{exc.failed.migration_id}",
        error=exc.failed.error,
    )


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
