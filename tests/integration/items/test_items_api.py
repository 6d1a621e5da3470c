"""Every Items endpoint and status code (I1–I3), through the real app and database."""

from __future__ import annotations

import uuid

import httpx

from tests.support.tenants import Tenant

Client = httpx.AsyncClient


async def create(client: Client, tenant: Tenant, **body: object) -> dict[str, object]:
    """POST an item and return its body (asserting 201)."""
    response = await client.post("/items", json=body or {"title": "a"}, headers=tenant.headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_create_returns_201_location_and_server_fields(client: Client, tenant: Tenant) -> None:
    """POST trims the title, sets id, default status and UTC timestamps, and answers Location."""
    response = await client.post("/items", json={"title": "  Buy milk  ", "description": "2 l"}, headers=tenant.headers)
    assert response.status_code == 201
    body = response.json()
    assert response.headers["location"] == f"/items/{body['id']}"
    assert uuid.UUID(body["id"])
    assert body["title"] == "Buy milk"
    assert body["description"] == "2 l"
    assert body["status"] == "pending"
    assert body["created_at"].endswith("Z")
    assert body["created_at"] == body["updated_at"]


async def test_get_by_id_200_and_404(client: Client, tenant: Tenant) -> None:
    """GET /items/{id} finds the item; an unknown id is a 404 problem."""
    item = await create(client, tenant, title="x")
    found = await client.get(f"/items/{item['id']}", headers=tenant.headers)
    assert found.status_code == 200
    assert found.json() == item
    missing = await client.get(f"/items/{uuid.uuid4()}", headers=tenant.headers)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["status"] == 404


async def test_list_is_newest_first_with_total_limit_offset(client: Client, tenant: Tenant) -> None:
    """GET /items pages newest first and reports total, limit and offset."""
    ids = [(await create(client, tenant, title=f"n{i}"))["id"] for i in range(5)]
    page = await client.get("/items", params={"limit": 2, "offset": 1}, headers=tenant.headers)
    assert page.status_code == 200
    body = page.json()
    assert body["total"] == 5
    assert body["limit"] == 2
    assert body["offset"] == 1
    assert [i["id"] for i in body["items"]] == [ids[3], ids[2]]
    default = (await client.get("/items", headers=tenant.headers)).json()
    assert default["limit"] == 50
    assert default["offset"] == 0
    assert [i["id"] for i in default["items"]] == ids[::-1]


async def test_list_offset_past_the_end_keeps_total(client: Client, tenant: Tenant) -> None:
    """An offset beyond the last item returns no items but the true total."""
    await create(client, tenant, title="only")
    body = (await client.get("/items", params={"offset": 10}, headers=tenant.headers)).json()
    assert body["items"] == []
    assert body["total"] == 1


async def test_list_filters_by_status(client: Client, tenant: Tenant) -> None:
    """`status=` keeps only items in that status, and `total` counts only those."""
    await create(client, tenant, title="a", status="done")
    await create(client, tenant, title="b")
    body = (await client.get("/items", params={"status": "done"}, headers=tenant.headers)).json()
    assert body["total"] == 1
    assert [i["title"] for i in body["items"]] == ["a"]


async def test_put_replaces_every_field(client: Client, tenant: Tenant) -> None:
    """PUT is a full replace: omitted optional fields go back to their defaults."""
    item = await create(client, tenant, title="t", description="d", status="done")
    response = await client.put(f"/items/{item['id']}", json={"title": "new"}, headers=tenant.headers)
    assert response.status_code == 200
    body = response.json()
    assert (body["title"], body["description"], body["status"]) == ("new", None, "pending")
    assert body["created_at"] == item["created_at"]
    assert body["updated_at"] > item["updated_at"]


async def test_patch_changes_only_sent_fields(client: Client, tenant: Tenant) -> None:
    """PATCH changes the fields sent and nothing else; null clears the description."""
    item = await create(client, tenant, title="t", description="d")
    response = await client.patch(f"/items/{item['id']}", json={"status": "in_progress"}, headers=tenant.headers)
    assert response.status_code == 200
    assert (response.json()["title"], response.json()["description"]) == ("t", "d")
    assert response.json()["status"] == "in_progress"
    cleared = await client.patch(f"/items/{item['id']}", json={"description": None}, headers=tenant.headers)
    assert cleared.json()["description"] is None


async def test_put_patch_delete_unknown_id_are_404(client: Client, tenant: Tenant) -> None:
    """Writes to an id that does not exist answer 404, not 200 or 500."""
    path = f"/items/{uuid.uuid4()}"
    assert (await client.put(path, json={"title": "x"}, headers=tenant.headers)).status_code == 404
    assert (await client.patch(path, json={"title": "x"}, headers=tenant.headers)).status_code == 404
    assert (await client.delete(path, headers=tenant.headers)).status_code == 404


async def test_delete_returns_204_then_404(client: Client, tenant: Tenant) -> None:
    """DELETE answers 204 with no body; the item is gone afterwards."""
    item = await create(client, tenant, title="bye")
    response = await client.delete(f"/items/{item['id']}", headers=tenant.headers)
    assert response.status_code == 204
    assert response.content == b""
    assert (await client.get(f"/items/{item['id']}", headers=tenant.headers)).status_code == 404


async def test_tenants_do_not_see_each_others_items(client: Client, tenant: Tenant, other_tenant: Tenant) -> None:
    """An item of one tenant is invisible to another, by list and by id."""
    item = await create(client, tenant, title="secret")
    assert (await client.get("/items", headers=other_tenant.headers)).json()["total"] == 0
    assert (await client.get(f"/items/{item['id']}", headers=other_tenant.headers)).status_code == 404
    assert (await client.delete(f"/items/{item['id']}", headers=other_tenant.headers)).status_code == 404
    assert (await client.get(f"/items/{item['id']}", headers=tenant.headers)).status_code == 200


async def test_nul_characters_are_refused_with_400(client: Client, tenant: Tenant) -> None:
    """PostgreSQL cannot store NUL; the API refuses it as a field error instead of failing with 500."""
    for body in ({"title": "a\u0000b"}, {"title": "ok", "description": "x\u0000"}):
        response = await client.post("/items", json=body, headers=tenant.headers)
        assert response.status_code == 400
        assert response.json()["errors"][0]["field"] in {"title", "description"}


async def test_a_blank_title_is_reported_on_the_title_field(client: Client, tenant: Tenant) -> None:
    """Whitespace-only titles fail validation under `title`, not a generic body error."""
    response = await client.post("/items", json={"title": "   "}, headers=tenant.headers)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "title"
