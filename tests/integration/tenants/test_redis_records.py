"""Redis cannot grant what the registry did not (T1): sealed records, a completeness mark, no SQL for a flood.

Each test writes into the session's Redis what an attacker with write access could, and checks
what the in-process app serves. A token's in-process cache entry is cleared first, so Redis is read.
"""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
from litestar import Litestar
from loguru import logger
from redis.asyncio import Redis

from app.telemetry.metrics import redis_records_rejected
from app.tenants import resolver as resolver_module
from app.tenants.record_auth import RecordSigner, record_keys
from app.tenants.structs import TenantRecord
from app.tenants.token_store import COMPLETE_KEY
from app.tenants.tokens import hash_token, new_token, redis_key
from tests.support.records import SIGNER, payload
from tests.support.tenants import ADMIN_HEADERS, Tenant, wait_until_redis_trusted

pytestmark = pytest.mark.usefixtures("trusted_redis")


@pytest.fixture
def registry_lookups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The token hashes the resolver asks the registry about (each one is one SQL query), recorded from now on."""
    asked: list[str] = []
    real = resolver_module.registry.record_for_token_hash

    async def counted(token_hash: str) -> TenantRecord | None:
        asked.append(token_hash)
        return await real(token_hash)

    monkeypatch.setattr(resolver_module.registry, "record_for_token_hash", counted)
    return asked


async def status(app: Litestar, client: httpx.AsyncClient, token: str) -> int:
    """GET /items with `token`, its in-process cache entry forgotten first, once the app reads Redis.

    The listener stops trusting Redis for a moment whenever outbox rows are still owed (a lifecycle
    change a test just made); the read must reach Redis to test what Redis holds.
    """
    await wait_until_redis_trusted(app)
    app.state.resolver.cache.clear()
    return (await client.get("/items", headers={"X-TOKEN": token})).status_code


async def test_a_copied_record_does_not_grant_a_token_never_issued(
    app: Litestar, client: httpx.AsyncClient, tenant: Tenant, redis: Redis
) -> None:
    """A genuine record copied under the hash of a never-issued token is refused (401); the tenant's own still works."""
    genuine = await redis.get(redis_key(hash_token(tenant.token)))
    forged = new_token()
    await redis.set(redis_key(hash_token(forged)), genuine or b"")
    assert await status(app, client, forged) == 401
    assert await status(app, client, tenant.token) == 200


@pytest.mark.parametrize("edit", ["suspended-as-active", "slug-changed", "schema-injected", "unsealed"])
async def test_an_edited_record_is_refused(
    app: Litestar, client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, redis: Redis, *, edit: str
) -> None:
    """An edited record never changes what a token gets: the registry's answer is served instead.

    A suspended tenant rewritten as active stays 403; a slug pointed at another tenant still lists
    the token's own tenant; an injected schema is ignored; a bare unsealed record is refused.
    """
    key = redis_key(hash_token(tenant.token))
    if edit == "suspended-as-active":
        assert (await client.post(f"/admin/tenants/{tenant.slug}/suspend", headers=ADMIN_HEADERS)).status_code == 200
    raw = await redis.get(key) or b""
    record = json.loads(payload(raw) or b"{}")
    record |= {"suspended-as-active": {"status": "active"}, "slug-changed": {"slug": other_tenant.slug},
               "schema-injected": {"schema": "cobreja"}, "unsealed": {}}[edit]
    body = json.dumps(record).encode()
    version, until, mac = raw.split(b".")[:3]
    await redis.set(key, body if edit == "unsealed" else b".".join([version, until, mac, body]))
    before = redis_records_rejected.total()
    expected = 403 if edit == "suspended-as-active" else 200
    assert await status(app, client, tenant.token) == expected
    assert redis_records_rejected.total() == before + 1, "the rejection is counted"
    await client.post("/items", headers=other_tenant.headers, json={"title": "other's"})
    listed = (await client.get("/items", headers=tenant.headers)).json()["items"] if expected == 200 else []
    assert all(item["title"] != "other's" for item in listed)


async def test_a_replayed_genuine_record_is_believed_only_until_its_time(
    app: Litestar, client: httpx.AsyncClient, tenant: Tenant, redis: Redis
) -> None:
    """The tenant's genuine record from before its suspension, put back into Redis, does not keep it served.

    Its seal is genuine (same key, same hash), so only its time can tell it is old: once past it,
    the registry answers (403) and the value is re-sealed from the registry (suspended, fresh).
    """
    key = redis_key(hash_token(tenant.token))
    token_hash = hash_token(tenant.token)
    old = RecordSigner(SIGNER.keys, fresh_seconds=300, clock=lambda: time.time() - 301)  # sealed 301 s ago
    active = old.seal(token_hash, json.dumps({"slug": tenant.slug, "status": "active"}).encode())
    assert (await client.post(f"/admin/tenants/{tenant.slug}/suspend", headers=ADMIN_HEADERS)).status_code == 200
    await redis.set(key, active)
    assert await status(app, client, tenant.token) == 403
    refreshed = SIGNER.open(token_hash, await redis.get(key) or b"")
    assert refreshed is not None
    assert refreshed.fresh
    assert json.loads(refreshed.payload)["status"] == "suspended"


async def test_a_record_never_overwrites_a_tombstone(app: Litestar, client: httpx.AsyncClient, tenant: Tenant) -> None:
    """A record write reaching Redis after the revocation of its hash (out of order) leaves the tombstone."""
    token_hash = hash_token(tenant.token)
    store = app.state.resolver.store
    record = json.dumps({"slug": tenant.slug, "status": "active"}).encode()
    assert (await client.post(f"/admin/tenants/{tenant.slug}/rotate-token", headers=ADMIN_HEADERS)).status_code == 200
    assert await store.write(token_hash, record)  # the late write
    assert await status(app, client, tenant.token) == 401
    assert payload(await store.redis.get(redis_key(token_hash))) == b"revoked"


async def test_key_rotation_old_keys_verify_dropped_keys_do_not(
    app: Litestar, client: httpx.AsyncClient, tenant: Tenant, redis: Redis, *, captured: list[str],
    registry_lookups: list[str],
) -> None:
    """A record sealed by an older key still listed is served from Redis; one sealed by a dropped key is refused.

    The refused one is counted, logged once per token hash however often it is read, and the
    registry still serves the genuine token.
    """
    store = app.state.resolver.store
    token_hash, key = hash_token(tenant.token), redis_key(hash_token(tenant.token))
    body = payload(await redis.get(key)) or b""
    old_key, dropped = b"an older key", b"a dropped key"
    store.signer = RecordSigner([*SIGNER.keys, old_key])
    try:
        await redis.set(key, RecordSigner([old_key]).seal(token_hash, body))
        assert await status(app, client, tenant.token) == 200
        assert registry_lookups == [], "served from Redis, the registry was not asked"

        await redis.set(key, RecordSigner([dropped]).seal(token_hash, body))
        before = redis_records_rejected.total()
        for _ in range(3):
            assert await status(app, client, tenant.token) == 200
        assert redis_records_rejected.total() == before + 3
        assert registry_lookups == [token_hash] * 3, "each refused read asks the registry"
        logger.complete()
        logged = [line for line in captured if "rejected" in line and token_hash[:12] in line]
        assert len(logged) == 1, logged
    finally:
        store.signer = SIGNER


def test_the_derived_key_is_the_admin_keys_and_listed_keys_win() -> None:
    """Empty REDIS_RECORD_KEYS derives one key from ADMIN_API_KEY; a list is used as given, first key signing."""
    assert record_keys("", "admin") == record_keys("", "admin") != record_keys("", "other")
    assert record_keys(" k1 , k2 ", "admin") == [b"k1", b"k2"]
    assert record_keys("", "") == []
    assert not RecordSigner([]).can_sign


async def test_a_flood_of_unknown_tokens_costs_no_registry_query(
    app: Litestar, client: httpx.AsyncClient, tenant: Tenant, redis: Redis, registry_lookups: list[str]
) -> None:
    """While Redis is known complete, 500 random tokens get 401 with one body and cause 0 SQL statements.

    A revoked token is answered by the same path (no SQL either) with the same body.
    """
    revoked = tenant.token
    assert (await client.post(f"/admin/tenants/{tenant.slug}/rotate-token", headers=ADMIN_HEADERS)).status_code == 200
    await wait_until_complete(app, client, redis)
    registry_lookups.clear()
    bodies = set()
    for token in [new_token() for _ in range(500)] + [revoked]:
        response = await client.get("/items", headers={"X-TOKEN": token})
        assert response.status_code == 401
        bodies.add(response.content)
    assert registry_lookups == [], "no registry query while Redis is complete"
    assert len(bodies) == 1


async def test_after_flushall_the_registry_answers_and_the_mark_comes_back(
    app: Litestar, client: httpx.AsyncClient, tenant: Tenant, redis: Redis, registry_lookups: list[str]
) -> None:
    """FLUSHALL drops the mark: a real token still resolves (registry), and a background reload marks Redis again.

    After the reload, the token's record is back in Redis, sealed by the app's key.
    """
    await wait_until_complete(app, client, redis)
    await redis.flushall()
    assert await status(app, client, tenant.token) == 200
    assert await status(app, client, new_token()) == 401
    assert len(registry_lookups) == 2, "without the mark, misses ask the registry"
    await wait_until_complete(app, client, redis)
    stored = await redis.get(redis_key(hash_token(tenant.token)))
    assert SIGNER.open(hash_token(tenant.token), stored or b"") is not None


async def wait_until_complete(app: Litestar, client: httpx.AsyncClient, redis: Redis, within: float = 10.0) -> None:
    """Poll until Redis holds the app's completeness mark and the app trusts Redis again."""
    deadline = time.monotonic() + within
    while await redis.get(COMPLETE_KEY) != SIGNER.mark:
        assert time.monotonic() < deadline, "Redis was never marked complete (see the reloader's log)"
        await asyncio.sleep(0.05)
    await wait_until_redis_trusted(app)
    await client.get("/health")
