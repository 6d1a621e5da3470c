"""Traffic that makes the app's request, auth and SQL families appear in /metrics (for the live-name checks)."""

from __future__ import annotations

import httpx

from tests.support.tenants import Tenant


async def exercise_items_api(http: httpx.AsyncClient, tenant: Tenant) -> None:
    """As `tenant`: create, list, read, replace, patch and delete an item; then two 401s (no token, unknown token)."""
    created = await http.post("/items", json={"title": "observed"}, headers=tenant.headers)
    assert created.status_code == 201, created.text
    item = f"/items/{created.json()['id']}"
    for method, path, body, status in [
        ("GET", "/items", None, 200),
        ("GET", item, None, 200),
        ("PUT", item, {"title": "replaced"}, 200),
        ("PATCH", item, {"status": "done"}, 200),
        ("DELETE", item, None, 204),
    ]:
        response = await http.request(method, path, json=body, headers=tenant.headers)
        assert response.status_code == status, (method, path, response.text)
    assert (await http.get("/items")).status_code == 401
    assert (await http.get("/items", headers={"X-TOKEN": "no-such-token"})).status_code == 401
