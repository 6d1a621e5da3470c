"""R2: tenant isolation holds under concurrency, through the real HTTP stack on a small pool.

Two dozen tenants, each owning items whose titles start with `<slug>|`, are driven by a few thousand
interleaved requests (list, get, create, patch, plus cross-tenant probes) in shuffled order, ~50
in flight at a time, against `app run` (uvicorn) whose PostgreSQL pool has at most 4 connections:
every connection serves every tenant over and over. If a transaction-local `search_path` ever
leaked from one request into the next, some tenant would see a row whose title names another.
"""

from __future__ import annotations

import uuid

import asyncpg
import httpx
import pytest

from tests.support.isolation import assert_isolated_under_load
from tests.support.servers import LiveServer
from tests.support.tenants import make_tenant

TENANTS = 24
REQUESTS = 2_400

pytestmark = pytest.mark.slow


async def test_no_request_ever_sees_another_tenants_rows(live_server: LiveServer, pg: asyncpg.Connection) -> None:
    """2,400 shuffled, concurrent requests over 24 tenants on a 4-connection pool: zero foreign rows.

    Every response is 2xx (cross-tenant probes 404), every row any tenant sees carries its own
    prefix, no tenant can read or patch another's item by id, and at the end each tenant's total,
    ids and stored rows are exactly what it created (tests.support.isolation).
    """
    await assert_isolated_under_load(live_server.base_url, pg, tenants=TENANTS, requests=REQUESTS)


async def test_cross_tenant_ids_are_404_for_every_method(live_server: LiveServer) -> None:
    """Tenant B addressing tenant A's item by id gets 404 on GET, PUT, PATCH and DELETE; A's item survives."""
    async with httpx.AsyncClient(base_url=live_server.base_url, timeout=30) as http:
        owner = await make_tenant(http, prefix="isoa")
        intruder = await make_tenant(http, prefix="isob")
        created = await http.post("/items", json={"title": f"{owner.slug}|mine"}, headers=owner.headers)
        assert created.status_code == 201, created.text
        item = created.json()
        for method, body in (("GET", None), ("PUT", {"title": "x"}), ("PATCH", {"title": "x"}), ("DELETE", None)):
            response = await http.request(method, f"/items/{item['id']}", json=body, headers=intruder.headers)
            assert response.status_code == 404, (method, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")
        assert (await http.get("/items", headers=intruder.headers)).json()["total"] == 0
        again = await http.get(f"/items/{item['id']}", headers=owner.headers)
        assert again.status_code == 200
        assert again.json() == item
        assert uuid.UUID(item["id"])
