"""Token resolution at the edge (T1): 401 without enumeration, admin key guard."""

from __future__ import annotations

import httpx
import pytest
from litestar import Litestar

from tests.support.tenants import Tenant, listed_slugs, unique_slug


@pytest.mark.parametrize("headers", [{}, {"X-TOKEN": ""}, {"X-TOKEN": "not-a-token"}, {"X-TOKEN": "x" * 43}])
async def test_missing_and_unknown_tokens_get_the_same_401(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    """Missing, empty and unknown tokens all answer one identical 401 problem body."""
    reference = await client.get("/items")
    response = await client.get("/items", headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.content == reference.content


async def test_a_revoked_token_gets_the_same_401(app: Litestar, client: httpx.AsyncClient, tenant: Tenant) -> None:
    """After a rotation the old token answers exactly like an unknown one (no hint it existed)."""
    service = app.state.tenant_service
    await service.rotate_token(tenant.slug)
    app.state.resolver.cache.clear()
    revoked = await client.get("/items", headers=tenant.headers)
    unknown = await client.get("/items", headers={"X-TOKEN": "unknown"})
    assert revoked.status_code == 401
    assert revoked.content == unknown.content


@pytest.mark.parametrize("key", [None, "", "wrong", "test-admin-key-0123456789abcdeX"])
async def test_admin_api_needs_the_admin_key(client: httpx.AsyncClient, key: str | None) -> None:
    """Without the exact admin key, /admin/tenants answers 401 problem+json for reads and writes."""
    headers = {} if key is None else {"X-ADMIN-KEY": key}
    listing = await client.get("/admin/tenants", headers=headers)
    creation = await client.post("/admin/tenants", json={"slug": unique_slug()}, headers=headers)
    assert listing.status_code == creation.status_code == 401
    assert listing.headers["content-type"] == "application/problem+json"


async def test_tenant_token_is_not_an_admin_key(client: httpx.AsyncClient, tenant: Tenant) -> None:
    """A tenant's token opens its items but not the admin API."""
    assert (await client.get("/admin/tenants", headers={"X-ADMIN-KEY": tenant.token})).status_code == 401
    assert (await client.get("/items", headers=tenant.headers)).status_code == 200


async def test_admin_creates_and_lists_tenants(client: httpx.AsyncClient, admin_headers: dict[str, str]) -> None:
    """POST /admin/tenants answers 201 with the token once; GET lists the tenant without any token."""
    slug = unique_slug("adm")
    created = await client.post("/admin/tenants", json={"slug": slug}, headers=admin_headers)
    assert created.status_code == 201
    body = created.json()
    assert body["tenant"]["slug"] == slug
    assert body["tenant"]["schema"] == f"tenant_{slug}"
    assert body["tenant"]["status"] == "active"
    assert slug in await listed_slugs(client)
    newest = await client.get("/admin/tenants", params={"limit": 1000}, headers=admin_headers)
    assert newest.status_code == 200
    assert body["token"] not in newest.text
    duplicate = await client.post("/admin/tenants", json={"slug": slug}, headers=admin_headers)
    assert duplicate.status_code == 409


async def test_the_token_is_checked_before_the_body(client: httpx.AsyncClient) -> None:
    """Without a valid token even a malformed body gets 401: nothing is parsed for strangers."""
    response = await client.post("/items", content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 401
