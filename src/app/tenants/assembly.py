"""Tenancy put together: for a running app (`tenancy`), and on its own for the CLIs and `app dev`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace

from litestar.datastructures import State
from loguru import logger
from redis.asyncio import Redis

from app import db
from app.background import stop_task
from app.settings import Settings
from app.telemetry import RegistryCounts
from app.tenants import outbox, registry
from app.tenants.fleet import ledger
from app.tenants.fleet.ledger import RunSummary
from app.tenants.fleet.schema import migrate_shared
from app.tenants.invalidation import InvalidationListener
from app.tenants.rate_limit import TenantRateLimiter
from app.tenants.record_auth import RecordSigner, record_keys
from app.tenants.resolver import TokenCache, TokenResolver
from app.tenants.service import TenantService
from app.tenants.token_store import TokenStore, connect_redis

LISTENER_READ_TIMEOUT_SECONDS = 5.0
LISTENER_STOP_SECONDS = 3.0


@asynccontextmanager
async def tenancy(state: State, settings: Settings) -> AsyncIterator[None]:
    """Put resolver, rate limiter and tenant service on `state`; listen for invalidations meanwhile.

    Expects the pool to be started and the shared schema to exist (`app run`'s preflight and
    `app dev` migrate it before the app starts).
    """
    redis = connect_redis(settings.redis_url, settings.redis_timeout_seconds)
    listener_redis = connect_redis(settings.redis_url, LISTENER_READ_TIMEOUT_SECONDS)
    store = token_store(redis, settings)
    cache = TokenCache(settings.token_cache_ttl_seconds, settings.token_cache_max_entries)
    state.redis = redis
    state.resolver = TokenResolver(cache, store)
    state.rate_limiter = TenantRateLimiter(settings.tenant_rate_limit_per_second, settings.tenant_rate_limit_burst)
    state.tenant_service = TenantService(store, local_cache=cache)
    state.invalidation = InvalidationListener(listener_redis, cache, store)
    task = asyncio.create_task(state.invalidation.run(), name="tenant-invalidations")
    try:
        yield
    finally:
        await stop_task(task, state.invalidation.stopping, LISTENER_STOP_SECONDS)
        await listener_redis.aclose()
        await redis.aclose()


def token_store(redis: Redis, settings: Settings) -> TokenStore:
    """The token store of a process, sealing records with the key(s) its settings give (app.tenants.record_auth)."""
    signer = RecordSigner(record_keys(settings.redis_record_keys, settings.admin_api_key),
                          fresh_seconds=settings.redis_token_ttl_seconds)
    if not signer.can_sign:
        logger.warning("neither REDIS_RECORD_KEYS nor ADMIN_API_KEY is set: Redis token records can be neither "
                       "written nor read by this process (the registry answers; running servers pay the outbox)")
    return TokenStore(redis, settings.redis_token_ttl_seconds, signer)


def listener_state(state: State) -> tuple[bool, bool]:
    """Whether this worker's invalidation listener is subscribed, and whether it trusts Redis's token records."""
    listener: InvalidationListener = state.invalidation
    return listener.connected.is_set(), listener.store.trusted


@asynccontextmanager
async def standalone_service(settings: Settings) -> AsyncIterator[TenantService]:
    """A TenantService outside the web app, on a small pool, with the shared schema migrated.

    For the CLI, `app dev`'s start-up, the tests and the benchmarks.
    """
    await db.start_pool(replace(settings, db_pool_min_size=1, db_pool_max_size=2))
    redis = connect_redis(settings.redis_url, settings.redis_timeout_seconds)
    try:
        await migrate_shared()
        yield TenantService(token_store(redis, settings))
    finally:
        await redis.aclose()
        await db.stop_pool()


async def registry_counts() -> RegistryCounts:
    """Tenants by status and the migration ledger's totals, for the telemetry's gauges."""
    by_status = await registry.tenants_by_status()
    runs, failures = await ledger.totals()
    return RegistryCounts(tenants_by_status=by_status, migration_runs=runs, migration_failures=failures)


@dataclass(frozen=True, slots=True)
class FleetActivity:
    """What tenancy does besides answering requests, for the monitoring dashboard."""

    tenants_by_status: dict[str, int]
    recent_runs: list[RunSummary]
    """The last fleet migration runs that attempted something, newest first."""
    outbox_backlog: int
    """Redis writes the token outbox still owes."""


async def fleet_activity(runs: int = 10) -> FleetActivity:
    """Tenants by status, the last `runs` migration runs and the outbox backlog (three small queries)."""
    return FleetActivity(await registry.tenants_by_status(), await ledger.recent_runs(runs), await outbox.backlog())
