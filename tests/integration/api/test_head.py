"""HEAD on every GET route: the GET's status and headers, no body (uptime checkers probe with HEAD)."""

from __future__ import annotations

import httpx
import pytest

from tests.support.servers import LiveServer
from tests.support.tenants import Tenant


@pytest.mark.parametrize("path", ["/health", "/health/ready", "/metrics", "/schema/openapi.json"])
async def test_head_answers_like_get_without_a_body(client: httpx.AsyncClient, path: str) -> None:
    """HEAD on a public GET route → the GET's status and content type, and an empty body (405 before)."""
    got = await client.get(path)
    head = await client.head(path)
    assert head.status_code == got.status_code == 200
    assert head.headers["content-type"] == got.headers["content-type"]
    assert head.content == b""


async def test_head_goes_through_the_tenant_guard(client: httpx.AsyncClient, tenant: Tenant) -> None:
    """HEAD /items is a GET /items: 200 with the tenant's token, 401 without, and never a body."""
    with_token = await client.head("/items", headers=tenant.headers)
    without = await client.head("/items")
    assert (with_token.status_code, without.status_code) == (200, 401)
    assert with_token.content == without.content == b""


async def test_head_on_a_route_without_get_is_405(client: httpx.AsyncClient) -> None:
    """A path that has no GET (only POST) still refuses HEAD with 405."""
    response = await client.head("/admin/tenants/some-tenant/suspend")
    assert response.status_code == 405


def test_head_through_a_real_server_sends_the_length_of_the_get(live_server: LiveServer) -> None:
    """Through uvicorn, HEAD /health answers 200 with the Content-Length of the GET and no body bytes."""
    got = httpx.get(live_server.url("/health"))
    head = httpx.head(live_server.url("/health"))
    assert head.status_code == 200
    assert head.headers["content-length"] == str(len(got.content))
    assert head.content == b""
