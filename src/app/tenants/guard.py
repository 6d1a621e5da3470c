"""Request-side tenancy: the X-TOKEN guard, the tenant-scope dependency and the admin-key guard."""

from __future__ import annotations

import hmac
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from app.db import TenantScope
from app.errors import UNAUTHENTICATED_DETAIL, DomainError
from app.telemetry import auth_failures, auth_successes
from app.tenants.errors import AdminKeyRequired, RepeatedCredential, TenantRateLimited, TenantSuspended, TokenRequired
from app.tenants.rate_limit import TenantRateLimiter
from app.tenants.resolver import TokenResolver
from app.tenants.tokens import looks_like_token

TOKEN_HEADER = "x-token"  # noqa: S105  (a header name, not a secret)
ADMIN_HEADER = "x-admin-key"


async def tenant_guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Resolve X-TOKEN before anything else runs (guards precede body parsing and validation).

    401 with one body for missing, malformed, unknown and revoked tokens; 403 if suspended. A
    token that cannot be one of ours is refused without any lookup.
    """
    token = single_header(connection, TOKEN_HEADER, "X-TOKEN")
    if not token:
        raise _refused("missing", TokenRequired(UNAUTHENTICATED_DETAIL))
    if not looks_like_token(token):
        raise _refused("malformed", TokenRequired(UNAUTHENTICATED_DETAIL))
    resolver: TokenResolver = connection.app.state.resolver
    record = await resolver.resolve(token)
    if record is None:
        raise _refused("unknown", TokenRequired(UNAUTHENTICATED_DETAIL))
    if record.status != "active":
        raise _refused("suspended", TenantSuspended(f"Tenant {record.slug!r} is suspended."))
    limiter: TenantRateLimiter = connection.app.state.rate_limiter
    if wait := limiter.retry_after(record.slug):
        raise _refused("rate_limited",
                       TenantRateLimited(f"Tenant {record.slug!r} is over its request rate; retry in {wait} s.", wait))
    auth_successes.inc()
    connection.state.tenant = record.slug
    connection.state.tenant_scope = TenantScope(record.slug, record.schema)


def single_header(connection: ASGIConnection[Any, Any, Any, Any], name: str, shown: str) -> str:
    """The value of header `name` ("" when absent); sent twice or more → 400 (counted as malformed)."""
    values = connection.headers.getall(name, [])
    if len(values) > 1:
        auth_failures.inc("malformed")
        raise RepeatedCredential(f"Send the {shown} header once; it was sent {len(values)} times.")
    return values[0] if values else ""


def _refused(reason: str, error: DomainError) -> DomainError:
    """Count a refusal under `reason` (missing, malformed, unknown, suspended, rate_limited)."""
    auth_failures.inc(reason)
    return error


async def provide_tenant_db(request: Request[Any, Any, Any]) -> TenantScope:
    """The caller's tenant scope, set by `tenant_guard`."""
    scope: TenantScope = request.state.tenant_scope
    return scope


def has_admin_key(connection: ASGIConnection[Any, Any, Any, Any]) -> bool:
    """Whether the request carries the right X-ADMIN-KEY, compared in constant time (R4)."""
    expected: str = connection.app.state.settings.admin_api_key
    given = single_header(connection, ADMIN_HEADER, "X-ADMIN-KEY")
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def admin_guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Allow the request only with the right X-ADMIN-KEY."""
    if not has_admin_key(connection):
        raise AdminKeyRequired("A valid X-ADMIN-KEY header is required.")
