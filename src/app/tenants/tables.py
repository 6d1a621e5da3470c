"""The durable tenant registry (T2), in the shared schema, reached only by qualified names."""

from __future__ import annotations

from piccolo.columns import ForeignKey, OnDelete, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from app.tenants.naming import SHARED_SCHEMA


class Tenant(Table, schema=SHARED_SCHEMA, tablename="tenant"):
    """One row per tenant: its slug, schema, lifecycle status and placement.

    The primary key is Piccolo's implicit `id` (Serial); code reaches it as `TENANT_ID`.
    """

    slug = Varchar(length=50, unique=True, index=True)
    schema_name = Varchar(length=63, unique=True)
    status = Varchar(length=20, default="active")
    placement = Varchar(length=100, default="default")
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


class TenantToken(Table, schema=SHARED_SCHEMA, tablename="tenant_token"):
    """The SHA-256 hashes of a tenant's tokens; a revoked token keeps its row with `revoked_at`."""

    token_hash = Varchar(length=64, unique=True, index=True)
    tenant = ForeignKey(references=Tenant, on_delete=OnDelete.cascade, index=True)
    created_at = Timestamptz(default=TimestamptzNow())
    revoked_at = Timestamptz(null=True, default=None)


class TokenOutbox(Table, schema=SHARED_SCHEMA, tablename="token_outbox"):
    """Redis writes owed after a lifecycle change (transactional outbox).

    Written in the same transaction as the change, deleted once Redis holds `value` for the hash
    and the hash was announced; any process drains it (see app.tenants.outbox), so a revocation
    made while Redis was down, or by a CLI that exited, still reaches Redis.
    """

    token_hash = Varchar(length=64)
    value = Text()
    created_at = Timestamptz(default=TimestamptzNow())


TENANT_ID = Tenant._meta.primary_key
"""Tenant's implicit primary key column (declaring `id` explicitly would make Piccolo see a new column)."""
