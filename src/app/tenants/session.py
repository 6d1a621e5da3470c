"""A tenant service outside the web app (CLI, `app dev` start-up, tests, benchmarks)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

from app import db
from app.settings import Settings
from app.tenants.migrations import migrate_shared
from app.tenants.service import TenantService
from app.tenants.token_store import TokenStore, connect_redis


@asynccontextmanager
async def tenant_service(settings: Settings) -> AsyncIterator[TenantService]:
    """A TenantService on a small pool, with the shared schema migrated."""
    await db.start_pool(replace(settings, db_pool_min_size=1, db_pool_max_size=2))
    redis = connect_redis(settings.redis_url, settings.redis_timeout_seconds)
    try:
        await migrate_shared()
        yield TenantService(TokenStore(redis, settings.redis_token_ttl_seconds))
    finally:
        await redis.aclose()
        await db.stop_pool()
