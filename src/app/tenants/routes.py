"""Admin API over the tenant service (`X-ADMIN-KEY`). Thin: no SQL, no business rules."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, delete, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody, Parameter

from app.openapi import problem_responses
from app.tenants.guard import admin_guard
from app.tenants.service import TenantService
from app.tenants.structs import TenantCreate, TenantCreated, TenantOut, TenantPage, TenantStatus


async def provide_tenant_service(request: Request[Any, Any, Any]) -> TenantService:
    """The process's tenant service."""
    service: TenantService = request.app.state.tenant_service
    return service


_ONE = problem_responses(400, 401, 404, 422, 500, 503)
MAX_PAGE = 1000
MAX_OFFSET = 2**31 - 1


class AdminTenantController(Controller):
    """`/admin/tenants`: the tenant lifecycle for operators."""

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

    @get("/", responses=problem_responses(400, 401, 500, 503), summary="List tenants, oldest first")
    async def list_tenants(
        self,
        tenants: NamedDependency[TenantService],
        limit: Annotated[int, Parameter(ge=1, le=MAX_PAGE, description=f"page size (max {MAX_PAGE})")] = 100,
        offset: Annotated[int, Parameter(ge=0, le=MAX_OFFSET, description="tenants to skip")] = 0,
        status: Annotated[TenantStatus | None, Parameter(description="only tenants in this status")] = None,
    ) -> TenantPage:
        """One page of tenants and the total matching `status`."""
        return await tenants.page(limit, offset, status)

    @get("/{slug:str}", responses=_ONE, summary="Show a tenant")
    async def show_tenant(self, slug: FromPath[str], tenants: NamedDependency[TenantService]) -> TenantOut:
        """One tenant (never its token)."""
        return await tenants.get(slug)

    @delete("/{slug:str}", status_code=204, responses=_ONE, summary="Delete a tenant and all its data")
    async def delete_tenant(self, slug: FromPath[str], tenants: NamedDependency[TenantService]) -> None:
        """Revoke its tokens, drop its schema, then its registry row (re-running finishes an interrupted delete)."""
        await tenants.delete(slug)

    @post("/{slug:str}/suspend", status_code=200, responses=_ONE, summary="Suspend a tenant (403 until resumed)")
    async def suspend_tenant(self, slug: FromPath[str], tenants: NamedDependency[TenantService]) -> TenantOut:
        """Its requests get 403 from now on; data and token are kept."""
        return await tenants.suspend(slug)

    @post("/{slug:str}/resume", status_code=200, responses=_ONE, summary="Resume a suspended tenant")
    async def resume_tenant(self, slug: FromPath[str], tenants: NamedDependency[TenantService]) -> TenantOut:
        """Serve the tenant again."""
        return await tenants.resume(slug)

    @post("/{slug:str}/rotate-token", status_code=200, responses=_ONE, summary="Issue a new token, revoke the old")
    async def rotate_token(self, slug: FromPath[str], tenants: NamedDependency[TenantService]) -> TenantCreated:
        """The old token is dead at once, in every worker; the new one is shown this once."""
        return await tenants.rotate_token(slug)
