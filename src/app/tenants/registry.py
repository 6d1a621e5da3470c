"""Queries on the durable registry (shared schema, always schema-qualified through the tables)."""

from __future__ import annotations

from typing import Any

from app.tenants.schemas import TenantOut, TenantRecord
from app.tenants.tables import TENANT_ID, Tenant, TenantToken

_TENANT_COLUMNS = (
    Tenant.slug,
    Tenant.schema_name.as_alias("schema"),
    Tenant.status,
    Tenant.placement,
    Tenant.created_at,
    Tenant.updated_at,
)


async def record_for_token_hash(token_hash: str) -> TenantRecord | None:
    """The tenant an unrevoked token hash belongs to, or None."""
    row = (
        await TenantToken.select(
            TenantToken.tenant.slug.as_alias("slug"),
            TenantToken.tenant.schema_name.as_alias("schema"),
            TenantToken.tenant.status.as_alias("status"),
        )
        .where((TenantToken.token_hash == token_hash) & TenantToken.revoked_at.is_null())
        .first()
    )
    return None if row is None else TenantRecord(**row)


async def find_tenant(slug: str) -> TenantOut | None:
    """The registry row of `slug`, or None."""
    row = await Tenant.select(*_TENANT_COLUMNS).where(Tenant.slug == slug).first()
    return None if row is None else _out(row)


async def all_tenants() -> list[TenantOut]:
    """Every registered tenant, oldest first."""
    rows = await Tenant.select(*_TENANT_COLUMNS).order_by(Tenant.created_at).order_by(TENANT_ID)
    return [_out(row) for row in rows]


def _out(row: dict[str, Any]) -> TenantOut:
    return TenantOut(**row)


async def insert_tenant(slug: str, schema: str) -> tuple[int, TenantOut]:
    """Insert the registry row of a new tenant; return its id and its public shape."""
    rows = await Tenant.insert(Tenant(slug=slug, schema_name=schema)).returning(TENANT_ID, *_TENANT_COLUMNS)
    row = dict(rows[0])
    return int(row.pop("id")), _out(row)
