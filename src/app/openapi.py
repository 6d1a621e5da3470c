"""OpenAPI pieces shared by route modules: the problem+json shape and the security schemes (I4)."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import msgspec
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.plugins import RedocRenderPlugin, ScalarRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme


class FieldError(msgspec.Struct):
    """One invalid field of a request."""

    field: str
    message: str
    source: str


class Problem(msgspec.Struct):
    """RFC 9457 problem details; `errors` only on validation failures."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[FieldError] | msgspec.UnsetType = msgspec.UNSET


def problem_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """Document that each of `statuses` answers with a problem+json body."""
    return {
        status: ResponseSpec(
            data_container=Problem,
            media_type="application/problem+json",
            description=HTTPStatus(status).phrase,
            generate_examples=False,
        )
        for status in statuses
    }


def operation_id(route_handler: HTTPRouteHandler, _method: Any, _path: list[Any]) -> str:
    """The handler's name in camelCase (`list_items` → `listItems`): generated clients get idiomatic names.

    Litestar's default joins the path and the name (`AdminTenantsSlugSuspendSuspendTenant`). Handlers
    whose names are not unique across the API (`metrics`) set `operation_id=` themselves; Litestar
    refuses a document with a repeated id.
    """
    first, *rest = route_handler.handler_name.split("_")
    return first + "".join(part.capitalize() for part in rest)


def openapi_config(version: str) -> OpenAPIConfig:
    """OpenAPI 3.1 at /schema with Swagger UI, ReDoc and Scalar, and both API-key schemes."""
    return OpenAPIConfig(
        title="Cobreja",
        version=version,
        description="Multi-tenant Items API: one PostgreSQL schema per tenant, chosen by X-TOKEN.",
        path="/schema",
        operation_id_creator=operation_id,
        render_plugins=[ScalarRenderPlugin(), SwaggerRenderPlugin(), RedocRenderPlugin()],
        components=Components(
            security_schemes={
                "TenantToken": SecurityScheme(
                    type="apiKey",
                    name="X-TOKEN",
                    security_scheme_in="header",
                    description="The tenant's token, issued once at creation.",
                ),
                "AdminKey": SecurityScheme(
                    type="apiKey",
                    name="X-ADMIN-KEY",
                    security_scheme_in="header",
                    description="The operator's admin key (ADMIN_API_KEY).",
                ),
                "MonitoringPassword": SecurityScheme(
                    type="http",
                    scheme="basic",
                    description="Monitoring pages and the detailed health report: any user name, MONITORING_PASSWORD.",
                ),
            }
        ),
    )
