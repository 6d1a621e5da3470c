"""The tenant lifecycle service shared by the CLI and the admin API (T5). Knows nothing of HTTP.

The registry in PostgreSQL is the truth; Redis and the workers' caches follow it after each
commit (`_sync_tokens`): records are rewritten or tombstoned and the hashes announced on the
invalidation channel. A Redis failure there is logged and replayed later (TokenStore.pending).
"""

from __future__ import annotations

import asyncpg
from loguru import logger

from app.db import ENGINE, quote_ident
from app.errors import TenantExists, TenantNotFound
from app.tenants import registry
from app.tenants.migrations import enter_schema, migrate_tenant_schema
from app.tenants.naming import schema_for
from app.tenants.resolver import TokenCache
from app.tenants.schemas import TenantCreated, TenantOut, TenantRecord, TenantStatus
from app.tenants.tables import TenantToken
from app.tenants.template import clone_schema, ensure_template
from app.tenants.token_store import TokenStore
from app.tenants.tokens import hash_token, new_token


class TenantService:
    """Create, list, show, suspend, resume, rotate and delete tenants."""

    def __init__(self, store: TokenStore, local_cache: TokenCache | None = None) -> None:
        self.store = store
        self.local_cache = local_cache

    async def create(self, slug: str) -> TenantCreated:
        """Create schema + all migrations + registry row + token atomically; return the token once.

        Everything runs in one PostgreSQL transaction: a failure anywhere leaves no schema, no row
        and no token behind. Redis is written only after the commit. The schema is cloned from the
        migrated template (see app.tenants.template), then checked against the migrations, so it
        is current by construction even if a fleet migration runs meanwhile.
        """
        schema = schema_for(slug)
        token = new_token()
        token_hash = hash_token(token)
        await ensure_template()
        try:
            async with ENGINE.transaction() as transaction:
                await transaction.connection.execute(f"CREATE SCHEMA {quote_ident(schema)}")
                await clone_schema(transaction.connection, schema)
                await migrate_tenant_schema(schema)
                tenant_id, tenant = await registry.insert_tenant(slug, schema)
                await TenantToken.insert(TenantToken(token_hash=token_hash, tenant=tenant_id))
        except (asyncpg.UniqueViolationError, asyncpg.DuplicateSchemaError) as exc:
            raise TenantExists(f"A tenant {slug!r} already exists.") from exc
        await self.store.put(token_hash, _record(tenant))
        logger.info("tenant created: {}", slug)
        return TenantCreated(tenant=tenant, token=token)

    async def get(self, slug: str) -> TenantOut:
        """The tenant `slug` (validated first, so a malformed slug never reaches SQL)."""
        schema_for(slug)
        tenant = await registry.find_tenant(slug)
        if tenant is None:
            raise TenantNotFound(f"No tenant {slug!r}.")
        return tenant

    async def list_tenants(self) -> list[TenantOut]:
        """Every tenant, oldest first."""
        return await registry.all_tenants()

    async def suspend(self, slug: str) -> TenantOut:
        """Refuse the tenant's requests (403) until resumed; its data and token are kept."""
        return await self._set_status(slug, "suspended")

    async def resume(self, slug: str) -> TenantOut:
        """Serve a suspended tenant again."""
        return await self._set_status(slug, "active")

    async def rotate_token(self, slug: str) -> TenantCreated:
        """Revoke every token of `slug` and issue a new one (returned once); old tokens die at once."""
        token = new_token()
        token_hash = hash_token(token)
        async with ENGINE.transaction():
            tenant_id, tenant = await self._locked(slug)
            revoked = await registry.revoke_tokens(tenant_id)
            await TenantToken.insert(TenantToken(token_hash=token_hash, tenant=tenant_id))
        await self._sync_tokens(revoked, None)
        await self.store.put(token_hash, _record(tenant))
        logger.info("tenant token rotated: {}", slug)
        return TenantCreated(tenant=tenant, token=token)

    async def delete(self, slug: str) -> None:
        """Revoke the tokens, drop the schema, then the registry row; a re-run finishes an interrupted delete.

        Each step commits on its own, in that order, so an interruption leaves a tenant that is
        `deleting` with no live token: unusable, visible, and completed by the next call.
        """
        async with ENGINE.transaction():
            tenant_id, tenant = await self._locked(slug)
            await registry.revoke_tokens(tenant_id)
            await registry.set_status(tenant_id, "deleting")
            every_hash = await registry.all_token_hashes(tenant_id)  # a re-run re-tombstones them all
        await self._sync_tokens(every_hash, None)
        async with ENGINE.transaction() as transaction:
            await enter_schema(transaction.connection, tenant.schema)  # never mid-migration
            await transaction.connection.execute(f"DROP SCHEMA IF EXISTS {quote_ident(tenant.schema)} CASCADE")
        await registry.delete_tenant(tenant_id)
        logger.info("tenant deleted: {}", slug)

    async def _set_status(self, slug: str, status: TenantStatus) -> TenantOut:
        async with ENGINE.transaction():
            tenant_id, tenant = await self._locked(slug)
            if tenant.status == "deleting":
                raise TenantNotFound(f"Tenant {slug!r} is being deleted.")
            tenant = await registry.set_status(tenant_id, status)
            live = await registry.live_token_hashes(tenant_id)
        await self._sync_tokens(live, _record(tenant))
        logger.info("tenant {}: {}", status, slug)
        return tenant

    async def _locked(self, slug: str) -> tuple[int, TenantOut]:
        """The tenant's id and row, locked for this transaction (lifecycle changes serialise)."""
        schema_for(slug)
        found = await registry.lock_tenant(slug)
        if found is None:
            raise TenantNotFound(f"No tenant {slug!r}.")
        return found

    async def _sync_tokens(self, token_hashes: list[str], record: TenantRecord | None) -> None:
        """After a commit: rewrite (or tombstone, when `record` is None) each hash, then announce them."""
        for token_hash in token_hashes:
            await (self.store.put(token_hash, record) if record else self.store.revoke(token_hash))
            if self.local_cache is not None:
                self.local_cache.drop(token_hash)
        await self.store.announce(token_hashes)


def _record(tenant: TenantOut) -> TenantRecord:
    return TenantRecord(slug=tenant.slug, schema=tenant.schema, status=tenant.status)
