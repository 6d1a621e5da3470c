"""The migration ledger (T6): one row per schema and migration attempted by a fleet run.

It lives in the shared schema. Rows of applied migrations are written inside the schema's own
migration transaction, so they commit (or vanish) with the DDL they describe. Rows of a failed
attempt are written afterwards, in a transaction of their own, because the schema's transaction
has rolled back by then.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from loguru import logger
from piccolo.columns import UUID, DoublePrecision, Text, Timestamptz, Varchar
from piccolo.table import Table

from app.db import ENGINE
from app.tenants.naming import SHARED_SCHEMA

LedgerStatus = Literal["applied", "failed", "rolled_back"]
"""`rolled_back`: the migration ran, but a later one of the same schema failed, so it was undone."""


class MigrationLedger(Table, schema=SHARED_SCHEMA, tablename="migration_ledger"):
    """One attempt to apply one migration to one schema, during one run of the fleet runner."""

    run_id = UUID(index=True)
    tenant_slug = Varchar(length=50, null=True, default=None, index=True)
    schema_name = Varchar(length=63)
    app_name = Varchar(length=200)
    migration_id = Varchar(length=200)
    status = Varchar(length=20)
    started_at = Timestamptz()
    finished_at = Timestamptz()
    duration_ms = DoublePrecision()
    error = Text(null=True, default=None)


@dataclass(frozen=True, slots=True)
class Attempt:
    """What happened to one migration of one schema."""

    app_name: str
    migration_id: str
    status: LedgerStatus
    started_at: datetime
    finished_at: datetime
    error: str | None = None

    @property
    def duration_ms(self) -> float:
        """Wall time of the attempt in milliseconds."""
        return (self.finished_at - self.started_at).total_seconds() * 1000


async def record(run_id: str, slug: str | None, schema: str, attempts: list[Attempt]) -> None:
    """Insert one ledger row per attempt (in the caller's transaction, if there is one)."""
    if attempts:
        await MigrationLedger.insert(*(_row(run_id, slug, schema, attempt) for attempt in attempts))


async def record_apart(run_id: str, slug: str | None, schema: str, attempts: list[Attempt]) -> None:
    """Insert the rows in a transaction of their own; log instead of raising if that fails too.

    Used after a schema's transaction rolled back: the failure must be on record, but a ledger
    that cannot be written (say, on the first run, before its own table exists) must not hide
    the migration's error.
    """
    try:
        async with ENGINE.transaction():
            await record(run_id, slug, schema, attempts)
    except Exception as exc:  # the migration's own error is the one to report
        logger.warning("could not write the migration ledger for {}: {}: {}", schema, type(exc).__name__, exc)


_TOTALS = (
    "SELECT count(DISTINCT run_id) AS runs, count(*) FILTER (WHERE status = 'failed') AS failures"
    f" FROM {SHARED_SCHEMA}.migration_ledger"
)


async def totals() -> tuple[int, int]:
    """Fleet runs recorded, and failed migration attempts recorded."""
    row = (await MigrationLedger.raw(_TOTALS))[0]
    return int(row["runs"]), int(row["failures"])


@dataclass(frozen=True, slots=True)
class RunSummary:
    """One fleet run as the ledger saw it: when, how long, how many tenants it migrated or failed."""

    run_id: str
    started_at: datetime
    finished_at: datetime
    tenants_migrated: int
    tenants_failed: int

    @property
    def duration_ms(self) -> float:
        """From the run's first attempt starting to its last one finishing."""
        return (self.finished_at - self.started_at).total_seconds() * 1000


RECENT_RUNS_SQL = (
    "SELECT run_id::text AS run_id, min(started_at) AS started_at, max(finished_at) AS finished_at,"
    " count(DISTINCT tenant_slug) FILTER (WHERE status = 'applied') AS migrated,"
    " count(DISTINCT tenant_slug) FILTER (WHERE status = 'failed') AS failed"
    f" FROM {SHARED_SCHEMA}.migration_ledger GROUP BY run_id ORDER BY min(started_at) DESC LIMIT {{limit}}"
)
"""The dashboard's last fleet runs: a tenant counts as migrated when a migration applied, failed when one failed
(the template and the shared schema, which have no slug, are not tenants)."""


async def recent_runs(limit: int = 10) -> list[RunSummary]:
    """The last `limit` runs that attempted at least one migration, newest first.

    A run that found every schema up to date attempted nothing, so it left no row here.
    """
    rows = await MigrationLedger.raw(RECENT_RUNS_SQL.format(limit=int(limit)))
    return [RunSummary(row["run_id"], row["started_at"], row["finished_at"], int(row["migrated"]), int(row["failed"]))
            for row in rows]


def _row(run_id: str, slug: str | None, schema: str, attempt: Attempt) -> MigrationLedger:
    return MigrationLedger(
        run_id=run_id,
        tenant_slug=slug,
        schema_name=schema,
        app_name=attempt.app_name,
        migration_id=attempt.migration_id,
        status=attempt.status,
        started_at=attempt.started_at,
        finished_at=attempt.finished_at,
        duration_ms=attempt.duration_ms,
        error=attempt.error,
    )
