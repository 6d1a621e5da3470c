"""Items API (I2, I3): thin handlers that run a service call in the caller's tenant scope."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from litestar import Controller, Response, delete, get, patch, post, put
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody, Parameter

from app.db import TenantScope
from app.items import service
from app.items.structs import ItemOut, ItemPage, ItemPatch, ItemStatus, ItemWrite
from app.openapi import LOCATION, problem_responses
from app.tenants import provide_tenant_db, tenant_guard

MAX_OFFSET = 2**31 - 1
_LIST = problem_responses(400, 401, 403, 429, 500, 503)
_ONE = problem_responses(400, 401, 403, 404, 429, 500, 503)
_CREATE = problem_responses(400, 401, 403, 413, 429, 500, 503)
_WRITE = problem_responses(400, 401, 403, 404, 413, 429, 500, 503)


class ItemController(Controller):
    """`/items`, scoped to the tenant of `X-TOKEN`."""

    path = "/items"
    tags = ["items"]
    security = [{"TenantToken": []}]
    guards = [tenant_guard]
    dependencies = {"tenant_db": Provide(provide_tenant_db)}

    @get("/", responses=_LIST, summary="List items, newest first")
    async def list_items(
        self,
        tenant_db: NamedDependency[TenantScope],
        limit: Annotated[int, Parameter(ge=1, le=200, description="page size (max 200)")] = 50,
        offset: Annotated[int, Parameter(ge=0, le=MAX_OFFSET, description="items to skip")] = 0,
        status: Annotated[ItemStatus | None, Parameter(description="only items in this status")] = None,
    ) -> ItemPage:
        """One page of the tenant's items and the total matching `status`."""
        return await tenant_db.run(lambda: service.list_items(limit, offset, status))

    @post("/", status_code=201, responses=_CREATE, summary="Create an item", response_headers=LOCATION)
    async def create_item(
        self, tenant_db: NamedDependency[TenantScope], data: JSONBody[ItemWrite]
    ) -> Response[ItemOut]:
        """Create an item; `Location` points at it."""
        item = await tenant_db.run(lambda: service.create_item(data))
        return Response(item, status_code=201, headers={"Location": f"/items/{item.id}"})

    @get("/{item_id:uuid}", responses=_ONE, summary="Get an item")
    async def get_item(self, tenant_db: NamedDependency[TenantScope], item_id: FromPath[UUID]) -> ItemOut:
        """One item of the tenant."""
        return await tenant_db.run(lambda: service.get_item(item_id))

    @put("/{item_id:uuid}", responses=_WRITE, summary="Replace an item")
    async def replace_item(
        self, tenant_db: NamedDependency[TenantScope], item_id: FromPath[UUID], data: JSONBody[ItemWrite]
    ) -> ItemOut:
        """Full replace: omitted optional fields take their defaults."""
        return await tenant_db.run(lambda: service.replace_item(item_id, data))

    @patch("/{item_id:uuid}", responses=_WRITE, summary="Update some fields of an item")
    async def patch_item(
        self, tenant_db: NamedDependency[TenantScope], item_id: FromPath[UUID], data: JSONBody[ItemPatch]
    ) -> ItemOut:
        """Partial update: only the fields sent change."""
        return await tenant_db.run(lambda: service.patch_item(item_id, data))

    @delete("/{item_id:uuid}", status_code=204, responses=_ONE, summary="Delete an item")
    async def delete_item(self, tenant_db: NamedDependency[TenantScope], item_id: FromPath[UUID]) -> None:
        """Delete an item (204)."""
        await tenant_db.run(lambda: service.delete_item(item_id))
