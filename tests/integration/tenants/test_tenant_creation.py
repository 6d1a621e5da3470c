"""Tenant creation is atomic (T5): schema + migrations + registry row + token, or nothing."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx
import pytest
from litestar import Litestar

from app.tenants import service as service_module
from app.tenants.tokens import hash_token
from tests.support.tenants import unique_slug


async def schema_exists(pg: asyncpg.Connection, schema: str) -> bool:
    """Whether PostgreSQL has a schema of that name."""
    return bool(await pg.fetchval("SELECT count(*) FROM pg_namespace WHERE nspname = $1", schema))


async def test_a_new_tenant_has_a_migrated_schema_and_registry_row(
    client: httpx.AsyncClient, admin_headers: dict[str, str], pg: asyncpg.Connection
) -> None:
    """After creation the schema holds the item table and its own Piccolo migration ledger."""
    slug = unique_slug("new")
    assert (await client.post("/admin/tenants", json={"slug": slug}, headers=admin_headers)).status_code == 201
    tables = {r["tablename"] for r in await pg.fetch("SELECT tablename FROM pg_tables WHERE schemaname = $1",
                                                        f"tenant_{slug}")}
    assert tables == {"item", "migration"}
    ran = await pg.fetch(f'SELECT app_name FROM "tenant_{slug}".migration')
    assert {r["app_name"] for r in ran} == {"items"}
    assert await pg.fetchval("SELECT status FROM cobreja.tenant WHERE slug = $1", slug) == "active"


async def test_a_failure_mid_creation_leaves_nothing_behind(
    client: httpx.AsyncClient, admin_headers: dict[str, str], pg: asyncpg.Connection,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """If the registry insert fails after the schema was created and migrated, all of it rolls back."""
    slug = unique_slug("half")

    async def migrate_then_fail(schema: str) -> list[str]:
        await original(schema)
        raise RuntimeError("injected failure after migrations")

    original = service_module.migrate_tenant_schema
    monkeypatch.setattr(service_module, "migrate_tenant_schema", migrate_then_fail)
    response = await client.post("/admin/tenants", json={"slug": slug}, headers=admin_headers)
    assert response.status_code == 500
    assert "injected" not in response.text
    assert not await schema_exists(pg, f"tenant_{slug}")
    assert await pg.fetchval("SELECT count(*) FROM cobreja.tenant WHERE slug = $1", slug) == 0
    monkeypatch.undo()
    retry = await client.post("/admin/tenants", json={"slug": slug}, headers=admin_headers)
    assert retry.status_code == 201


async def test_an_existing_schema_is_not_adopted(
    client: httpx.AsyncClient, admin_headers: dict[str, str], pg: asyncpg.Connection
) -> None:
    """A leftover schema of the same name makes creation fail with 409, not silently reuse it."""
    slug = unique_slug("left")
    await pg.execute(f'CREATE SCHEMA "tenant_{slug}"')
    response = await client.post("/admin/tenants", json={"slug": slug}, headers=admin_headers)
    assert response.status_code == 409
    assert await pg.fetchval("SELECT count(*) FROM cobreja.tenant WHERE slug = $1", slug) == 0


async def test_concurrent_rotations_leave_exactly_one_live_token(
    app: Litestar, client: httpx.AsyncClient, admin_headers: dict[str, str], pg: asyncpg.Connection
) -> None:
    """Rotations racing each other serialise on the tenant row: one token stays live, the rest are revoked."""
    slug = unique_slug("rot")
    assert (await client.post("/admin/tenants", json={"slug": slug}, headers=admin_headers)).status_code == 201
    service = app.state.tenant_service
    results = await asyncio.gather(*(service.rotate_token(slug) for _ in range(4)))
    live = await pg.fetch("SELECT token_hash FROM cobreja.tenant_token t JOIN cobreja.tenant n ON n.id = t.tenant "
                          "WHERE n.slug = $1 AND t.revoked_at IS NULL", slug)
    assert len(live) == 1
    assert live[0]["token_hash"] in {hash_token(r.token) for r in results}
