"""Request bodies must be JSON: other media types get 415 problem+json, never "JSON is malformed" or acceptance."""

from __future__ import annotations

import httpx
import pytest

from tests.support.problems import assert_problem
from tests.support.tenants import Tenant

BODY = b'{"title": "typed"}'


@pytest.mark.parametrize("content_type", [
    "text/plain", "application/x-www-form-urlencoded", "application/xml", "multipart/form-data; boundary=x",
    "text/json",
])
async def test_a_body_that_is_not_json_is_415(client: httpx.AsyncClient, tenant: Tenant, content_type: str) -> None:
    """POST /items with a JSON-looking body declared as `content_type` → 415 problem+json saying what to send."""
    response = await client.post("/items", content=BODY, headers={**tenant.headers, "Content-Type": content_type})
    body = assert_problem(response, 415)
    assert "application/json" in body["detail"]


@pytest.mark.parametrize("content_type", [
    "application/json", "application/json; charset=utf-8", "Application/JSON", "application/merge-patch+json", None,
])
async def test_json_media_types_and_none_are_read(client: httpx.AsyncClient, tenant: Tenant,
                                                  content_type: str | None) -> None:
    """`application/json` (any case, any parameters), `application/*+json` and no Content-Type at all are read."""
    headers = {**tenant.headers, **({"Content-Type": content_type} if content_type else {})}
    response = await client.post("/items", content=BODY, headers=headers)
    assert response.status_code == 201, response.text


async def test_admin_bodies_are_held_to_the_same_rule(client: httpx.AsyncClient,
                                                      admin_headers: dict[str, str]) -> None:
    """POST /admin/tenants with a form body → 415 too (the rule lives in the request class, not per route)."""
    response = await client.post("/admin/tenants", content=b"slug=acme",
                                 headers={**admin_headers, "Content-Type": "application/x-www-form-urlencoded"})
    assert_problem(response, 415)
