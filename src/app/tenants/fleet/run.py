"""The fleet migration runner (T6): the shared schema first, then every tenant schema, `jobs` at a time.

`run_migrations` is the programmatic core (the CLI `python -m app.migrate_tenants` is a thin face
over it); it expects the engine's pool to be started (see `runner_pool`) and returns a RunSummary.

Order: the shared schema, then the template new tenants are cloned from (`tenant_template`, see
app.tenants.template), then every registered tenant, `jobs` at a time.

Tenants created while a run goes on end up current. A creation brings the template up to date
with the migrations its code knows, clones it, and applies whatever is still pending, all in its
own transaction: one created by new code is current by construction. One created by older code
(a server not yet redeployed) either clones the template after the runner migrated it (the
runner's exclusive lock on the template waits for clones in progress, which hold it shared), or
committed before that and is in the registry when the runner lists it again: after each pass
the runner migrates whoever appeared, until a pass finds nobody new.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Protocol

from app.db import ENGINE, configure_engine, settle_search_path, stop_pool
from app.piccolo_conf import SHARED_APPS, TENANT_APPS
from app.settings import Settings
from app.tenants.errors import TenantNotFound
from app.tenants.fleet.plan import MigrationPlan, load_plan
from app.tenants.fleet.summary import RunSummary, SchemaResult, Target
from app.tenants.fleet.targets import check_target, migrate_target
from app.tenants.naming import SHARED_SCHEMA, TEMPLATE_SCHEMA, schema_for
from app.tenants.tables import TENANT_ID, Tenant

DEFAULT_JOBS = 4
"""Tenants migrated at once by default: enough to hide round trips, few enough for a small server."""


@dataclass(frozen=True, slots=True)
class RunOptions:
    """What one run does."""

    jobs: int = DEFAULT_JOBS
    """Tenant schemas migrated concurrently (each holds one connection while it runs)."""
    tenants: tuple[str, ...] = ()
    """Only these tenant slugs (empty: every registered tenant)."""
    check: bool = False
    """Only report what is pending; write nothing."""
    shared_apps: tuple[str, ...] = tuple(SHARED_APPS)
    tenant_apps: tuple[str, ...] = tuple(TENANT_APPS)


class RunObserver(Protocol):
    """Hears about the run as it goes (a progress bar, log lines: app.tenants.fleet.progress)."""

    def schema(self, result: SchemaResult) -> None:
        """A schema that is not a tenant's (shared, template) is done."""

    def add(self, count: int) -> None:
        """`count` more tenant schemas are queued."""

    def done(self, result: SchemaResult) -> None:
        """One tenant schema is done."""


class SilentObserver:
    """A RunObserver that ignores everything."""

    def schema(self, result: SchemaResult) -> None:
        """Ignore."""

    def add(self, count: int) -> None:
        """Ignore."""

    def done(self, result: SchemaResult) -> None:
        """Ignore."""


async def run_migrations(options: RunOptions, progress: RunObserver | None = None) -> RunSummary:
    """Migrate (or `check`) the shared schema, then the tenants; never stops at a failed tenant.

    Raises TenantNotFound / InvalidSlug (before writing anything) for a `tenants` slug that
    does not name a registered tenant.
    """
    started = time.perf_counter()
    progress = progress or SilentObserver()
    run_id = str(uuid.uuid4())
    requested = await _requested_targets(options.tenants)
    shared = await _run_shared(options, run_id)
    progress.schema(shared)
    summary = RunSummary(run_id=run_id, check=options.check, shared=shared)
    if shared.ok or options.check:
        plan = load_plan(list(options.tenant_apps))
        if requested is None:
            summary.template = await _run_one(Target(None, TEMPLATE_SCHEMA, "template"), plan, options, run_id)
            progress.schema(summary.template)
        summary.tenants = await _run_tenants(options, plan, requested, run_id, progress)
    summary.duration_seconds = time.perf_counter() - started
    return summary


async def _run_shared(options: RunOptions, run_id: str) -> SchemaResult:
    target = Target(None, SHARED_SCHEMA, "shared")
    return await _run_one(target, load_plan(list(options.shared_apps)), options, run_id)


async def _run_one(target: Target, plan: MigrationPlan, options: RunOptions, run_id: str) -> SchemaResult:
    if options.check:
        return await check_target(target, plan)
    return await migrate_target(target, plan, run_id)


async def _run_tenants(
    options: RunOptions, plan: MigrationPlan, requested: list[Target] | None, run_id: str, progress: RunObserver
) -> list[SchemaResult]:
    """Every tenant once; without `--tenant`, the registry is listed again until nobody is new."""

    async def work(target: Target) -> SchemaResult:
        return await _run_one(target, plan, options, run_id)

    results: list[SchemaResult] = []
    seen: set[str] = set()
    batch = requested if requested is not None else await _registered(seen)
    while batch:
        progress.add(len(batch))
        results += await _in_parallel(batch, work, options.jobs, progress)
        if requested is not None or options.check:
            break
        seen.update(target.schema for target in batch)
        batch = await _registered(seen)
    return results


async def _in_parallel(
    targets: list[Target], work: Callable[[Target], Awaitable[SchemaResult]], jobs: int, progress: RunObserver
) -> list[SchemaResult]:
    """`work` on every target, at most `jobs` at a time; results in the targets' order."""
    results: dict[int, SchemaResult] = {}
    queue: Iterator[tuple[int, Target]] = enumerate(targets)

    async def worker() -> None:
        for index, target in queue:  # one shared iterator: each target goes to exactly one worker
            results[index] = await work(target)
            progress.done(results[index])

    async with asyncio.TaskGroup() as group:
        for _ in range(min(jobs, len(targets))):
            group.create_task(worker())
    return [results[index] for index in range(len(targets))]


async def _registry_exists() -> bool:
    rows = await Tenant.raw("SELECT to_regclass({}) IS NOT NULL AS present", f"{SHARED_SCHEMA}.tenant")
    return bool(rows[0]["present"])


async def _registered(seen: set[str]) -> list[Target]:
    """Registered tenants not in `seen` and not being deleted, oldest first (none without a registry)."""
    if not await _registry_exists():
        return []
    rows = await Tenant.select(Tenant.slug, Tenant.schema_name).where(Tenant.status != "deleting").order_by(TENANT_ID)
    return [Target(row["slug"], row["schema_name"]) for row in rows if row["schema_name"] not in seen]


async def _requested_targets(slugs: tuple[str, ...]) -> list[Target] | None:
    """The targets of `slugs` (None: no filter); TenantNotFound naming every unknown slug."""
    if not slugs:
        return None
    wanted = list(dict.fromkeys(slugs))
    for slug in wanted:
        schema_for(slug)  # InvalidSlug before any SQL
    rows = []
    if await _registry_exists():
        rows = await Tenant.select(Tenant.slug, Tenant.schema_name).where(Tenant.slug.is_in(wanted))
    found = {row["slug"]: Target(row["slug"], row["schema_name"]) for row in rows}
    unknown = [slug for slug in wanted if slug not in found]
    if unknown:
        raise TenantNotFound("No tenant " + ", ".join(repr(slug) for slug in unknown) + ".")
    return [found[slug] for slug in wanted]


@asynccontextmanager
async def runner_pool(settings: Settings, jobs: int) -> AsyncIterator[None]:
    """The engine's pool sized for `jobs` workers, without a statement timeout.

    A migration may rewrite a big table, and a runner may wait for another one's advisory lock:
    neither should be cut off by the request-sized `DB_COMMAND_TIMEOUT_SECONDS`.
    """
    configure_engine(settings)
    ENGINE.config["command_timeout"] = None
    await ENGINE.start_connection_pool(min_size=1, max_size=jobs + 1, max_inactive_connection_lifetime=300)
    try:
        await settle_search_path()  # the runner may be the first process on a new database
        yield
    finally:
        await stop_pool()
