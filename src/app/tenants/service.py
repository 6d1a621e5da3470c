"""The tenant lifecycle service shared by the CLI and the admin API (T5). Knows nothing of HTTP.

The registry in PostgreSQL is the truth; Redis and the workers' caches follow it. Each change
records in the same transaction what Redis must now hold for the affected tokens (the outbox),
and drains the outbox after the commit: records rewritten or tombstoned, hashes announced on the
invalidation channel. If Redis is down, the outbox keeps the debt until a worker pays it.
"""

from __future__ import annotations

import asyncpg
from loguru import logger

from app.db import ENGINE, quote_ident
from app.tenants import outbox, registry
from app.tenants.errors import TenantExists, TenantNotFound
from app.tenants.fleet.schema import enter_schema, migrate_tenant_schema
from app.tenants.naming import schema_for
from app.tenants.resolver import TokenCache
from app.tenants.structs import TenantCreated, TenantOut, TenantPage, TenantRecord, TenantStatus
from app.tenants.tables import TenantToken
from app.tenants.template import clone_schema, ensure_template
from app.tenants.token_store import TOMBSTONE, TokenStore, encode_record
from app.tenants.tokens import hash_token, new_token


class TenantService:
    """Create, list, show, suspend, resume, rotate and delete tenants."""

    def __init__(self, store: TokenStore, local_cache: TokenCache | None = None) -> None:
        self.store = store
        self.local_cache = local_cache

    async def create(self, slug: str) -> TenantCreated:
        """Create schema + all migrations + registry row + token atomically; return the token once.

        Everything runs in one PostgreSQL transaction: a failure anywhere leaves no schema, no row
        and no token behind. The token's record is owed to Redis through the outbox (a Redis known
        complete must hold it: a missing record would read as an unknown token), paid after the
        commit. The schema is cloned from the
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
                owed = [(token_hash, encode_record(_record(tenant)))]
                await outbox.record(owed)
        except (asyncpg.UniqueViolationError, asyncpg.DuplicateSchemaError) as exc:
            raise TenantExists(f"A tenant {slug!r} already exists.") from exc
        await self._after_change(owed)
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

    async def page(self, limit: int, offset: int, status: str | None = None) -> TenantPage:
        """One page of tenants (oldest first) in `status` (any when None), and how many there are."""
        return await registry.tenant_page(limit, offset, status)

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
            owed = [(h, TOMBSTONE) for h in revoked] + [(token_hash, encode_record(_record(tenant)))]
            await outbox.record(owed)
        await self._after_change(owed)
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
            owed = [(h, TOMBSTONE) for h in every_hash]
            await outbox.record(owed)
        await self._after_change(owed)
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
            owed = [(h, encode_record(_record(tenant))) for h in live]
            await outbox.record(owed)
        await self._after_change(owed)
        logger.info("tenant {}: {}", status, slug)
        return tenant

    async def _locked(self, slug: str) -> tuple[int, TenantOut]:
        """The tenant's id and row, locked for this transaction (lifecycle changes serialise)."""
        schema_for(slug)
        found = await registry.lock_tenant(slug)
        if found is None:
            raise TenantNotFound(f"No tenant {slug!r}.")
        return found

    async def _after_change(self, owed: list[tuple[str, bytes]]) -> None:
        """After a commit: drop the hashes from this process's cache, write what this change owes Redis, drain.

        The change's own values are written directly (stopping at the first failure) before the
        outbox is drained: a concurrent drainer may hold this change's rows (SKIP LOCKED), and the
        answer (a new token, "old token dead at once") must not wait for it. The rows stay owed
        until a drain deletes them, so a failure here loses nothing.
        """
        hashes = [token_hash for token_hash, _ in owed]
        if self.local_cache is not None:
            for token_hash in hashes:
                self.local_cache.drop(token_hash)
        if not self.store.signer.can_sign:
            await self.store.forget(hashes)
        else:
            for token_hash, value in owed:
                if not await self.store.write(token_hash, value):
                    break
            else:
                await self.store.announce(hashes)
        await outbox.drain(self.store)


def _record(tenant: TenantOut) -> TenantRecord:
    return TenantRecord(slug=tenant.slug, schema=tenant.schema, status=tenant.status)
