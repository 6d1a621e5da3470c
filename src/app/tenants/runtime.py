"""The tenancy parts of a running app: Redis clients, token cache, resolver, service, invalidation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar.datastructures import State

from app.background import stop_task
from app.settings import Settings
from app.tenants.invalidation import InvalidationListener
from app.tenants.rate_limit import TenantRateLimiter
from app.tenants.resolver import TokenCache, TokenResolver
from app.tenants.service import TenantService
from app.tenants.token_store import TokenStore, connect_redis

LISTENER_READ_TIMEOUT_SECONDS = 5.0
LISTENER_STOP_SECONDS = 3.0


@asynccontextmanager
async def tenancy(state: State, settings: Settings) -> AsyncIterator[None]:
    """Put resolver, rate limiter and tenant service on `state`; listen for invalidations meanwhile."""
    redis = connect_redis(settings.redis_url, settings.redis_timeout_seconds)
    listener_redis = connect_redis(settings.redis_url, LISTENER_READ_TIMEOUT_SECONDS)
    store = TokenStore(redis, settings.redis_token_ttl_seconds)
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

