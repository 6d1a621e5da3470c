"""GET /admin/tenants pages: limit, offset, a status filter and the total, like GET /items."""

from __future__ import annotations

import httpx
import pytest

from tests.support.problems import assert_problem
from tests.support.tenants import make_tenant


async def test_pages_are_oldest_first_and_add_up(client: httpx.AsyncClient, admin_headers: dict[str, str]) -> None:
    """Three new tenants are the last three of the listing, in creation order, in pages of two; total counts all."""
    made = [(await make_tenant(client, prefix="page")).slug for _ in range(3)]
    first = (await client.get("/admin/tenants", params={"limit": 1}, headers=admin_headers)).json()
    total = first["total"]
    assert (first["limit"], first["offset"], len(first["tenants"])) == (1, 0, 1)
    tail = [(await client.get("/admin/tenants", params={"limit": 2, "offset": offset},
                              headers=admin_headers)).json() for offset in (total - 3, total - 1)]
    assert [t["slug"] for page in tail for t in page["tenants"]] == made
    assert all(page["total"] == total for page in tail)


async def test_the_status_filter_counts_only_that_status(client: httpx.AsyncClient,
                                                         admin_headers: dict[str, str]) -> None:
    """`?status=suspended` lists only suspended tenants; a tenant just suspended is among them."""
    tenant = await make_tenant(client, prefix="pagesus")
    suspended = await client.post(f"/admin/tenants/{tenant.slug}/suspend", headers=admin_headers)
    assert suspended.status_code == 200, suspended.text
    page = (await client.get("/admin/tenants", params={"status": "suspended", "limit": 1000},
                             headers=admin_headers)).json()
    assert {t["status"] for t in page["tenants"]} == {"suspended"}
    assert tenant.slug in {t["slug"] for t in page["tenants"]}
    assert page["total"] >= 1


@pytest.mark.parametrize("query", ["limit=0", "limit=1001", "offset=-1", "status=gone", "limit=x"])
async def test_bad_paging_is_a_400(client: httpx.AsyncClient, admin_headers: dict[str, str], query: str) -> None:
    """Out-of-range or malformed paging parameters → 400 problem+json naming the parameter."""
    response = await client.get(f"/admin/tenants?{query}", headers=admin_headers)
    body = assert_problem(response, 400)
    assert body["errors"][0]["field"] == query.split("=", maxsplit=1)[0]
