"""Queries on the durable registry (shared schema, always schema-qualified through the tables)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from piccolo.columns.combination import Where
from piccolo.query.functions.aggregate import Count

from app.tenants.structs import TenantOut, TenantPage, TenantRecord
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


async def live_token_records() -> list[tuple[str, TenantRecord]]:
    """(hash, record) of every unrevoked token, for a full load of Redis (one query)."""
    rows = await TenantToken.select(
        TenantToken.token_hash,
        TenantToken.tenant.slug.as_alias("slug"),
        TenantToken.tenant.schema_name.as_alias("schema"),
        TenantToken.tenant.status.as_alias("status"),
    ).where(TenantToken.revoked_at.is_null())
    return [(row.pop("token_hash"), TenantRecord(**row)) for row in rows]


async def find_tenant(slug: str) -> TenantOut | None:
    """The registry row of `slug`, or None."""
    row = await Tenant.select(*_TENANT_COLUMNS).where(Tenant.slug == slug).first()
    return None if row is None else _out(row)


async def all_tenants() -> list[TenantOut]:
    """Every registered tenant, oldest first."""
    rows = await Tenant.select(*_TENANT_COLUMNS).order_by(Tenant.created_at).order_by(TENANT_ID)
    return [_out(row) for row in rows]


async def tenant_page(limit: int, offset: int, status: str | None = None) -> TenantPage:
    """One page of tenants, oldest first, and how many match `status` (all when None)."""
    query = Tenant.select(*_TENANT_COLUMNS).order_by(Tenant.created_at).order_by(TENANT_ID).limit(limit).offset(offset)
    counted = Tenant.count()
    if status is not None:
        query, counted = query.where(Tenant.status == status), counted.where(Tenant.status == status)
    rows = await query
    return TenantPage(tenants=[_out(row) for row in rows], total=await counted, limit=limit, offset=offset)


async def tenants_by_status() -> dict[str, int]:
    """How many tenants the registry holds in each status."""
    rows = await Tenant.select(Tenant.status, Count(alias="n")).group_by(Tenant.status)
    return {row["status"]: row["n"] for row in rows}


def _out(row: dict[str, Any]) -> TenantOut:
    return TenantOut(**row)


async def insert_tenant(slug: str, schema: str) -> tuple[int, TenantOut]:
    """Insert the registry row of a new tenant; return its id and its public shape."""
    rows = await Tenant.insert(Tenant(slug=slug, schema_name=schema)).returning(TENANT_ID, *_TENANT_COLUMNS)
    row = dict(rows[0])
    return int(row.pop("id")), _out(row)


async def lock_tenant(slug: str) -> tuple[int, TenantOut] | None:
    """The tenant's id and row, locked FOR UPDATE in the current transaction, or None."""
    row = await Tenant.select(TENANT_ID, *_TENANT_COLUMNS).where(Tenant.slug == slug).lock_rows().first()
    if row is None:
        return None
    row = dict(row)
    return int(row.pop("id")), _out(row)


async def set_status(tenant_id: int, status: str) -> TenantOut:
    """Change a tenant's status (and `updated_at`); return the new row."""
    rows = await Tenant.update({Tenant.status: status, Tenant.updated_at: datetime.now(UTC)}).where(
        _by_id(tenant_id)
    ).returning(*_TENANT_COLUMNS)
    return _out(rows[0])


async def live_token_hashes(tenant_id: int) -> list[str]:
    """Hashes of the tenant's unrevoked tokens."""
    rows = await TenantToken.select(TenantToken.token_hash).where(
        (TenantToken.tenant == tenant_id) & TenantToken.revoked_at.is_null()
    )
    return [row["token_hash"] for row in rows]


async def all_token_hashes(tenant_id: int) -> list[str]:
    """Hashes of every token the tenant ever had, revoked or not."""
    rows = await TenantToken.select(TenantToken.token_hash).where(TenantToken.tenant == tenant_id)
    return [row["token_hash"] for row in rows]


async def revoke_tokens(tenant_id: int) -> list[str]:
    """Mark every live token of the tenant revoked; return their hashes."""
    rows = await TenantToken.update({TenantToken.revoked_at: datetime.now(UTC)}).where(
        (TenantToken.tenant == tenant_id) & TenantToken.revoked_at.is_null()
    ).returning(TenantToken.token_hash)
    return [row["token_hash"] for row in rows]


async def delete_tenant(tenant_id: int) -> None:
    """Remove the registry row (its token rows go with it, ON DELETE CASCADE)."""
    await Tenant.delete().where(_by_id(tenant_id))


def _by_id(tenant_id: int) -> Where:
    """`id = tenant_id` (Piccolo's untyped `Column.__eq__` reads as bool to mypy)."""
    return cast(Where, tenant_id == TENANT_ID)
