"""Credential headers: every 401 carries a challenge naming the header; a credential sent twice is refused."""

from __future__ import annotations

import httpx
import pytest

from tests.support.problems import assert_problem
from tests.support.tenants import ADMIN_KEY, Tenant


@pytest.mark.parametrize(("path", "header"), [("/items", "X-TOKEN"), ("/admin/tenants", "X-ADMIN-KEY")])
@pytest.mark.parametrize("value", [None, "wrong"], ids=["missing", "wrong"])
async def test_every_401_names_the_header_to_send(client: httpx.AsyncClient, path: str, header: str,
                                                  value: str | None) -> None:
    """A 401 without, or with a wrong, credential has `WWW-Authenticate: ApiKey ... header="<name>"` (RFC 9110)."""
    response = await client.get(path, headers={header: value} if value else {})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("ApiKey ")
    assert f'header="{header}"' in response.headers["www-authenticate"]


async def test_two_tokens_are_refused_not_guessed(client: httpx.AsyncClient, tenant: Tenant,
                                                  other_tenant: Tenant) -> None:
    """Two X-TOKEN headers (even one valid) → 400 problem+json `repeated-header`; the first no longer silently wins."""
    headers = [("X-TOKEN", tenant.token), ("X-TOKEN", other_tenant.token)]
    response = await client.get("/items", headers=headers)
    body = assert_problem(response, 400)
    assert body["type"].endswith("/repeated-header")
    assert "X-TOKEN" in body["detail"]


async def test_two_admin_keys_are_refused(client: httpx.AsyncClient) -> None:
    """Two X-ADMIN-KEY headers (both right) → 400 `repeated-header`, not admin access."""
    response = await client.get("/admin/tenants", headers=[("X-ADMIN-KEY", ADMIN_KEY), ("X-ADMIN-KEY", ADMIN_KEY)])
    assert assert_problem(response, 400)["type"].endswith("/repeated-header")
