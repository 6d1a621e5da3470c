"""OpenAPI pieces shared by route modules: the problem+json shape, the security schemes and the docs UIs (I4).

The docs UIs (Swagger UI at /schema and /schema/swagger, ReDoc at /schema/redoc) load their scripts
and styles from `docs_assets/`, served by the app, never from a CDN: they work offline, and a
browser on the service's network needs nothing else.
"""

from __future__ import annotations

from http import HTTPStatus
from pathlib import Path
from typing import Any

import msgspec
from litestar import Litestar
from litestar.datastructures import ResponseHeader
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.plugins import RedocRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components, OpenAPIHeader, OpenAPIResponse, OpenAPIType, Schema, SecurityScheme
from litestar.router import Router
from litestar.static_files import create_static_files_router

DOCS_ASSETS = Path(__file__).parent / "docs_assets"
DOCS_ASSETS_PATH = "/schema/assets"
_SWAGGER = f"{DOCS_ASSETS_PATH}/swagger-ui"
_FAVICON = f"<link rel='icon' type='image/png' href='{_SWAGGER}/favicon-32x32.png'>"
_REDOC_STYLE = ("<style>body { margin: 0; padding: 0 } "
                # ReDoc's "API docs by Redocly" footer draws its logo from cdn.redoc.ly; offline it is a broken image.
                "a[href*='redocly.com'] { display: none }</style>")


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
    """OpenAPI 3.1 at /schema with Swagger UI and ReDoc (offline), and the security schemes."""
    return OpenAPIConfig(
        title="Cobreja",
        version=version,
        description="Multi-tenant Items API: one PostgreSQL schema per tenant, chosen by X-TOKEN.",
        path="/schema",
        operation_id_creator=operation_id,
        render_plugins=[
            SwaggerRenderPlugin(js_url=f"{_SWAGGER}/swagger-ui-bundle.js", css_url=f"{_SWAGGER}/swagger-ui.css",
                                standalone_preset_js_url=f"{_SWAGGER}/swagger-ui-standalone-preset.js",
                                favicon=_FAVICON, path=["/", "/swagger"]),
            RedocRenderPlugin(js_url=f"{DOCS_ASSETS_PATH}/redoc/redoc.standalone.js", google_fonts=False,
                              favicon=_FAVICON, style=_REDOC_STYLE),
        ],
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


def docs_assets_router() -> Router:
    """The docs UIs' vendored scripts and styles at /schema/assets (public, like the docs themselves)."""
    return create_static_files_router(path=DOCS_ASSETS_PATH, directories=[DOCS_ASSETS], include_in_schema=False,
                                      name="docs-assets")


def documented_header(name: str, description: str) -> ResponseHeader:
    """A response header shown in the OpenAPI document only (the app sets it elsewhere)."""
    return ResponseHeader(name=name, description=description, documentation_only=True)


TRACE_HEADERS = [
    documented_header("X-Trace-Id", "The OpenTelemetry trace id of this request (when it was traced)."),
    documented_header("X-Request-Id", "This request's id (the caller's X-Request-Id when sane, else a new one)."),
]
"""Headers every response carries (set by the telemetry layer)."""
LOCATION = [documented_header("Location", "The path of the resource just created.")]


RETRY_AFTER = OpenAPIHeader(schema=Schema(type=OpenAPIType.INTEGER),
                            description="Seconds to wait before retrying.")
RETRY_STATUSES = ("429", "503")


def document_retry_after(app: Litestar) -> None:
    """Add `Retry-After` to every documented 429 and 503 of the app's OpenAPI document (done at start-up).

    Litestar's `ResponseSpec` (how `problem_responses` documents errors) has no headers, so the header is
    added to the built document once, before it is first served.
    """
    for path_item in (app.openapi_schema.paths or {}).values():
        for method in ("get", "put", "post", "delete", "patch", "head"):
            operation = getattr(path_item, method, None)
            for status, response in ((operation.responses or {}) if operation else {}).items():
                if status in RETRY_STATUSES and isinstance(response, OpenAPIResponse):
                    response.headers = {**(response.headers or {}), "Retry-After": RETRY_AFTER}
