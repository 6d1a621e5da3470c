"""Admin API over the tenant service (`X-ADMIN-KEY`). Thin: no SQL, no business rules."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import JSONBody

from app.openapi import problem_responses
from app.tenants.guard import admin_guard
from app.tenants.schemas import TenantCreate, TenantCreated, TenantOut
from app.tenants.service import TenantService


async def provide_tenant_service(request: Request[Any, Any, Any]) -> TenantService:
    """The process's tenant service."""
    service: TenantService = request.app.state.tenant_service
    return service


class AdminTenantController(Controller):
    """`/admin/tenants`: create and list tenants."""

    path = "/admin/tenants"
    tags = ["admin"]
    guards = [admin_guard]
    security = [{"AdminKey": []}]
    dependencies = {"tenants": Provide(provide_tenant_service)}

    @post(
        "/",
        status_code=201,
        responses=problem_responses(400, 401, 409, 413, 422, 500, 503),
        summary="Create a tenant (the token is shown once)",
    )
    async def create_tenant(
        self, data: JSONBody[TenantCreate], tenants: NamedDependency[TenantService]
    ) -> TenantCreated:
        """Create schema, migrations, registry row and token atomically."""
        return await tenants.create(data.slug)

    @get("/", responses=problem_responses(401, 500, 503), summary="List tenants")
    async def list_tenants(self, tenants: NamedDependency[TenantService]) -> list[TenantOut]:
        """Every tenant, oldest first."""
        return await tenants.list()
