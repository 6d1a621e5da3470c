"""Tokens are stored only as SHA-256 hashes (T1), and Redis is a cache of the registry (T2)."""

from __future__ import annotations

import asyncpg
import httpx
import pytest
from litestar import Litestar
from redis.asyncio import Redis

from app.settings import Settings
from app.tenants.structs import TenantRecord
from app.tenants.tokens import hash_token
from tests.support.records import payload
from tests.support.tenants import Tenant, wait_until_redis_trusted


async def test_tokens_never_appear_in_clear_in_redis_or_the_registry(
    tenant: Tenant, redis: Redis, pg: asyncpg.Connection
) -> None:
    """No Redis key or value and no registry row contains the token; its hash is there instead."""
    keys = [key async for key in redis.scan_iter(count=1000)]
    assert f"tenant:token:{hash_token(tenant.token)}".encode() in keys
    for key in keys:
        assert tenant.token.encode() not in key
        if await redis.type(key) == b"string":
            assert tenant.token.encode() not in (await redis.get(key) or b"")
    for table in ("cobreja.tenant", "cobreja.tenant_token"):
        rows = await pg.fetch(f"SELECT * FROM {table}")
        assert all(tenant.token not in str(tuple(row)) for row in rows)
    stored = await pg.fetchval("SELECT token_hash FROM cobreja.tenant_token t JOIN cobreja.tenant n "
                               "ON n.id = t.tenant WHERE n.slug = $1", tenant.slug)
    assert stored == hash_token(tenant.token)


@pytest.mark.usefixtures("trusted_redis")
async def test_flushed_redis_still_resolves_and_is_refilled(
    app: Litestar, client: httpx.AsyncClient, tenant: Tenant, redis: Redis
) -> None:
    """After FLUSHALL (and an empty in-process cache) the registry answers and Redis is refilled."""
    await redis.flushall()
    await wait_until_redis_trusted(app)  # not during the moment a drain leaves something owed
    app.state.resolver.cache.clear()
    response = await client.get("/items", headers=tenant.headers)
    assert response.status_code == 200
    assert await redis.exists(f"tenant:token:{hash_token(tenant.token)}") == 1


async def test_the_in_process_cache_keeps_redis_off_the_hot_path(
    client: httpx.AsyncClient, tenant: Tenant, redis: Redis
) -> None:
    """Once resolved, a token keeps working while its Redis entry is gone (no Redis call per request)."""
    assert (await client.get("/items", headers=tenant.headers)).status_code == 200
    await redis.delete(f"tenant:token:{hash_token(tenant.token)}")
    assert (await client.get("/items", headers=tenant.headers)).status_code == 200
    assert await redis.exists(f"tenant:token:{hash_token(tenant.token)}") == 0


async def test_live_records_do_not_expire_and_tombstones_do(
    app: Litestar, tenant: Tenant, redis: Redis, settings: Settings
) -> None:
    """A live token's record has no TTL (a Redis known complete must keep it); its tombstone expires.

    An expired tombstone reads as an unknown token, which is the same answer (401).
    """
    old_hash = hash_token(tenant.token)
    assert await redis.ttl(f"tenant:token:{old_hash}") == -1
    await app.state.tenant_service.rotate_token(tenant.slug)
    ttl = await redis.ttl(f"tenant:token:{old_hash}")
    assert 0 < ttl <= settings.redis_token_ttl_seconds


async def test_a_revoked_token_leaves_a_tombstone_a_refill_cannot_overwrite(
    app: Litestar, client: httpx.AsyncClient, tenant: Tenant, redis: Redis
) -> None:
    """Rotation writes a tombstone; a racing refill from a stale registry read cannot revive the token."""
    app_state = app.state
    old_hash = hash_token(tenant.token)
    await app_state.tenant_service.rotate_token(tenant.slug)
    assert payload(await redis.get(f"tenant:token:{old_hash}")) == b"revoked"
    stale = TenantRecord(slug=tenant.slug, schema=f"tenant_{tenant.slug}", status="active")
    await app_state.resolver.store.refill(old_hash, stale)
    app_state.resolver.cache.clear()
    assert (await client.get("/items", headers=tenant.headers)).status_code == 401


@pytest.mark.usefixtures("trusted_redis")
async def test_an_unreadable_redis_entry_is_a_miss_not_a_500(
    app: Litestar, client: httpx.AsyncClient, tenant: Tenant, redis: Redis
) -> None:
    """An unsealed record of an older shape in Redis is never served, but the registry still answers (200)."""
    key = f"tenant:token:{hash_token(tenant.token)}"
    await redis.set(key, b'{"slug": "x"}')
    app.state.resolver.cache.clear()
    assert (await client.get("/items", headers=tenant.headers)).status_code == 200
