"""Tenant lifecycle (T5) through the admin API: suspend, resume, rotate, delete."""

from __future__ import annotations

import asyncpg
import httpx
from litestar import Litestar
from redis.asyncio import Redis

from app.tenants.tokens import hash_token
from tests.support.records import payload
from tests.support.tenants import ADMIN_HEADERS, Tenant, unique_slug


async def test_show_returns_the_tenant_and_404_for_unknown(
    client: httpx.AsyncClient, tenant: Tenant, admin_headers: dict[str, str]
) -> None:
    """GET /admin/tenants/{slug} shows the tenant without its token; an unknown slug is 404."""
    shown = await client.get(f"/admin/tenants/{tenant.slug}", headers=admin_headers)
    assert shown.status_code == 200
    assert shown.json()["slug"] == tenant.slug
    assert tenant.token not in shown.text
    assert (await client.get(f"/admin/tenants/{unique_slug('nope')}", headers=admin_headers)).status_code == 404
    assert (await client.get("/admin/tenants/Bad-Slug", headers=admin_headers)).status_code == 422


async def test_suspend_gives_403_and_resume_restores(
    client: httpx.AsyncClient, tenant: Tenant, admin_headers: dict[str, str]
) -> None:
    """A suspended tenant's requests get 403 problem+json at once; after resume they succeed again."""
    assert (await client.get("/items", headers=tenant.headers)).status_code == 200
    suspended = await client.post(f"/admin/tenants/{tenant.slug}/suspend", headers=admin_headers)
    assert suspended.status_code == 200
    assert suspended.json()["status"] == "suspended"
    refused = await client.get("/items", headers=tenant.headers)
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    resumed = await client.post(f"/admin/tenants/{tenant.slug}/resume", headers=admin_headers)
    assert resumed.json()["status"] == "active"
    assert (await client.get("/items", headers=tenant.headers)).status_code == 200


async def test_rotate_kills_the_old_token_at_once(
    client: httpx.AsyncClient, tenant: Tenant, admin_headers: dict[str, str]
) -> None:
    """After rotate-token the old token gets 401 immediately and the new one works (data kept)."""
    made = await client.post("/items", json={"title": "kept"}, headers=tenant.headers)
    rotated = await client.post(f"/admin/tenants/{tenant.slug}/rotate-token", headers=admin_headers)
    assert rotated.status_code == 200
    new_token = rotated.json()["token"]
    assert new_token != tenant.token
    assert (await client.get("/items", headers=tenant.headers)).status_code == 401
    listing = await client.get("/items", headers={"X-TOKEN": new_token})
    assert [i["id"] for i in listing.json()["items"]] == [made.json()["id"]]


async def test_delete_revokes_drops_the_schema_and_the_row(
    client: httpx.AsyncClient, tenant: Tenant, admin_headers: dict[str, str], pg: asyncpg.Connection
) -> None:
    """DELETE answers 204; the token is dead, the schema and the registry rows are gone; again → 404."""
    await client.post("/items", json={"title": "doomed"}, headers=tenant.headers)
    deleted = await client.delete(f"/admin/tenants/{tenant.slug}", headers=admin_headers)
    assert deleted.status_code == 204
    assert (await client.get("/items", headers=tenant.headers)).status_code == 401
    assert await pg.fetchval("SELECT count(*) FROM pg_namespace WHERE nspname = $1", f"tenant_{tenant.slug}") == 0
    assert await pg.fetchval("SELECT count(*) FROM cobreja.tenant WHERE slug = $1", tenant.slug) == 0
    assert await pg.fetchval("SELECT count(*) FROM cobreja.tenant_token WHERE token_hash = $1",
                             hash_token(tenant.token)) == 0
    assert (await client.delete(f"/admin/tenants/{tenant.slug}", headers=admin_headers)).status_code == 404


async def test_an_interrupted_delete_is_finished_by_the_next(
    app: Litestar, client: httpx.AsyncClient, tenant: Tenant, pg: asyncpg.Connection, redis: Redis
) -> None:
    """A delete stopped after its first step (tokens revoked, status `deleting`) is finished by a re-run."""
    await pg.execute("UPDATE cobreja.tenant_token SET revoked_at = now() WHERE tenant = "
                     "(SELECT id FROM cobreja.tenant WHERE slug = $1)", tenant.slug)
    await pg.execute("UPDATE cobreja.tenant SET status = 'deleting' WHERE slug = $1", tenant.slug)
    app.state.resolver.cache.clear()
    shown = await client.get(f"/admin/tenants/{tenant.slug}", headers=ADMIN_HEADERS)
    assert shown.json()["status"] == "deleting"
    assert (await client.post(f"/admin/tenants/{tenant.slug}/resume", headers=ADMIN_HEADERS)).status_code == 404
    assert (await client.delete(f"/admin/tenants/{tenant.slug}", headers=ADMIN_HEADERS)).status_code == 204
    assert await pg.fetchval("SELECT count(*) FROM pg_namespace WHERE nspname = $1", f"tenant_{tenant.slug}") == 0
    assert await pg.fetchval("SELECT count(*) FROM cobreja.tenant WHERE slug = $1", tenant.slug) == 0
    assert payload(await redis.get(f"tenant:token:{hash_token(tenant.token)}")) == b"revoked"
    assert (await client.get("/items", headers=tenant.headers)).status_code == 401


async def test_lifecycle_calls_on_unknown_tenants_are_404(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    """Suspend, resume, rotate and delete of a tenant that does not exist answer 404 problem+json."""
    slug = unique_slug("ghost")
    for action in ("suspend", "resume", "rotate-token"):
        response = await client.post(f"/admin/tenants/{slug}/{action}", headers=admin_headers)
        assert response.status_code == 404, action
        assert response.headers["content-type"] == "application/problem+json"
    assert (await client.delete(f"/admin/tenants/{slug}", headers=admin_headers)).status_code == 404


async def test_lifecycle_routes_need_the_admin_key(client: httpx.AsyncClient, tenant: Tenant) -> None:
    """Without the admin key no lifecycle route acts (401), and the tenant stays active."""
    for action in ("suspend", "rotate-token"):
        assert (await client.post(f"/admin/tenants/{tenant.slug}/{action}", headers=tenant.headers)).status_code == 401
    assert (await client.delete(f"/admin/tenants/{tenant.slug}")).status_code == 401
    assert (await client.get("/items", headers=tenant.headers)).status_code == 200
