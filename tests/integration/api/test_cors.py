"""CORS (CORS_ALLOW_ORIGINS): preflights answered before authentication, only for the configured origins."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.support.servers import app_env, serving
from tests.support.tenants import Tenant, make_tenant

ALLOWED = "https://app.example.com"
PREFLIGHT = {"Origin": ALLOWED, "Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "x-token, content-type"}


@pytest.fixture(scope="module")
async def cors_client(server_urls: dict[str, str],
                      tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[httpx.AsyncClient]:
    """A client of `app run` with CORS_ALLOW_ORIGINS set to two origins."""
    env = app_env(**server_urls, CORS_ALLOW_ORIGINS=f"{ALLOWED}, https://other.example.com")
    with serving(env, tmp_path_factory.mktemp("cors") / "server.log") as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10.0) as http:
            yield http


async def test_a_preflight_from_an_allowed_origin_is_answered_without_credentials(
        cors_client: httpx.AsyncClient) -> None:
    """OPTIONS /items with Origin and Access-Control-Request-* → 2xx allowing that origin and X-TOKEN (not a 401)."""
    response = await cors_client.options("/items", headers=PREFLIGHT)
    assert response.status_code in (200, 204), response.text
    assert response.headers["access-control-allow-origin"] == ALLOWED
    assert "x-token" in response.headers["access-control-allow-headers"].lower()
    assert "POST" in response.headers["access-control-allow-methods"]


async def test_a_response_to_an_allowed_origin_exposes_location(cors_client: httpx.AsyncClient) -> None:
    """A POST /items from an allowed origin carries Access-Control-Allow-Origin and exposes Location."""
    tenant = await make_tenant(cors_client, prefix="cors")
    response = await cors_client.post("/items", json={"title": "cors"}, headers={**tenant.headers, "Origin": ALLOWED})
    assert response.status_code == 201
    assert response.headers["access-control-allow-origin"] == ALLOWED
    assert "location" in response.headers["access-control-expose-headers"].lower()


async def test_another_origin_gets_no_cors_headers(cors_client: httpx.AsyncClient) -> None:
    """A preflight from an origin not configured is refused and carries no Access-Control-Allow-Origin."""
    response = await cors_client.options("/items", headers={**PREFLIGHT, "Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in response.headers
    assert response.status_code >= 400


async def test_without_the_setting_there_are_no_cors_headers(client: httpx.AsyncClient, tenant: Tenant) -> None:
    """With CORS_ALLOW_ORIGINS empty (the default) responses carry no CORS header at all."""
    response = await client.get("/items", headers={**tenant.headers, "Origin": ALLOWED})
    assert "access-control-allow-origin" not in response.headers
