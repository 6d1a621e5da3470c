"""The tenant lifecycle service shared by the CLI and the admin API (T5). Knows nothing of HTTP."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
from loguru import logger

from app.db import ENGINE, quote_ident
from app.errors import TenantExists, TenantNotFound
from app.tenants import registry
from app.tenants.migrations import migrate_tenant_schema
from app.tenants.naming import schema_for
from app.tenants.schemas import TenantCreated, TenantOut, TenantRecord
from app.tenants.tables import TENANT_ID, Tenant, TenantToken
from app.tenants.token_store import TokenStore
from app.tenants.tokens import hash_token, new_token


class TenantService:
    """Create, list and show tenants; Redis is refreshed after the registry commits."""

    def __init__(self, store: TokenStore) -> None:
        self.store = store

    async def create(self, slug: str) -> TenantCreated:
        """Create schema + all migrations + registry row + token atomically; return the token once.

        Everything runs in one PostgreSQL transaction: a failure anywhere leaves no schema, no row
        and no token behind. Redis is written only after the commit.
        """
        schema = schema_for(slug)
        token = new_token()
        token_hash = hash_token(token)
        try:
            async with ENGINE.transaction() as transaction:
                await transaction.connection.execute(f"CREATE SCHEMA {quote_ident(schema)}")
                await migrate_tenant_schema(schema)
                tenant_id, tenant = await registry.insert_tenant(slug, schema)
                await TenantToken.insert(TenantToken(token_hash=token_hash, tenant=tenant_id))
        except (asyncpg.UniqueViolationError, asyncpg.DuplicateSchemaError) as exc:
            raise TenantExists(f"A tenant {slug!r} already exists.") from exc
        await self.store.put(token_hash, TenantRecord(slug=slug, schema=schema, status="active"))
        logger.info("tenant created: {}", slug)
        return TenantCreated(tenant=tenant, token=token)

    async def get(self, slug: str) -> TenantOut:
        """The tenant `slug` (validated first, so a malformed slug never reaches SQL)."""
        schema_for(slug)
        tenant = await registry.find_tenant(slug)
        if tenant is None:
            raise TenantNotFound(f"No tenant {slug!r}.")
        return tenant

    async def list(self) -> list[TenantOut]:
        """Every tenant, oldest first."""
        return await registry.all_tenants()

    async def rotate_token(self, slug: str) -> TenantCreated:
        """Revoke every token of `slug` and issue a new one (returned once); old tokens die at once."""
        tenant = await self.get(slug)
        token = new_token()
        token_hash = hash_token(token)
        async with ENGINE.transaction():
            # Lock the tenant row: two concurrent rotations must not both leave a live token.
            locked = await Tenant.select(TENANT_ID).where(Tenant.slug == slug).lock_rows().first()
            if locked is None:
                raise TenantNotFound(f"No tenant {slug!r}.")
            tenant_id = locked["id"]
            revoked = (
                await TenantToken.update({TenantToken.revoked_at: datetime.now(UTC)})
                .where((TenantToken.tenant == tenant_id) & TenantToken.revoked_at.is_null())
                .returning(TenantToken.token_hash)
            )
            await TenantToken.insert(TenantToken(token_hash=token_hash, tenant=tenant_id))
        for row in revoked:
            await self.store.revoke(row["token_hash"])
        await self.store.put(token_hash, TenantRecord(slug=slug, schema=tenant.schema, status=tenant.status))
        logger.info("tenant token rotated: {}", slug)
        return TenantCreated(tenant=tenant, token=token)
