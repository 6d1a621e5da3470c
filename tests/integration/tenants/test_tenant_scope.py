"""The request scope (T3): search_path is the tenant's schema, transaction-local, and fails closed."""

from __future__ import annotations

import contextlib

import asyncpg
import httpx
import pytest

from app.db import ENGINE, AbortedTransactionError, TenantScope, scope_connection
from app.errors import UNAVAILABLE_ERRORS
from tests.support.tenants import Tenant


async def test_search_path_is_exactly_the_tenant_schema(client: httpx.AsyncClient, tenant: Tenant) -> None:
    """Inside the scope `search_path` names only the tenant's schema, and only for the transaction."""
    scope = TenantScope(tenant.slug, f"tenant_{tenant.slug}")

    async def read() -> tuple[str, bool]:
        connection = scope_connection()
        local = await connection.fetchval("SELECT current_setting('search_path')")
        in_tx = connection.is_in_transaction()
        return local, in_tx

    search_path, in_transaction = await scope.run(read)
    assert search_path.strip('"') == f"tenant_{tenant.slug}"  # PostgreSQL drops needless quotes
    assert in_transaction
    async with ENGINE.pool.acquire() as connection:  # type: ignore[union-attr]
        assert await connection.fetchval("SELECT current_setting('search_path')") == "pg_catalog"


async def test_outside_a_scope_unqualified_queries_fail_closed(client: httpx.AsyncClient, tenant: Tenant) -> None:
    """Without a tenant transaction, `item` resolves to nothing: no query can hit a default schema."""
    with pytest.raises(RuntimeError):
        scope_connection()
    async with ENGINE.pool.acquire() as connection:  # type: ignore[union-attr]
        with pytest.raises(asyncpg.UndefinedTableError):
            await connection.fetch("SELECT * FROM item")


async def test_a_stale_cached_statement_is_retried_once(client: httpx.AsyncClient, tenant: Tenant) -> None:
    """InvalidCachedStatementError rolls back and the whole unit runs again, once."""
    scope = TenantScope(tenant.slug, f"tenant_{tenant.slug}")
    attempts: list[int] = []

    async def flaky() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise asyncpg.InvalidCachedStatementError("cached statement plan is invalid")
        return "ok"

    assert await scope.run(flaky) == "ok"
    assert len(attempts) == 2


async def test_a_second_stale_statement_is_not_retried_forever(client: httpx.AsyncClient, tenant: Tenant) -> None:
    """Two failures in a row propagate instead of looping."""
    scope = TenantScope(tenant.slug, f"tenant_{tenant.slug}")

    async def always_stale() -> None:
        raise asyncpg.InvalidCachedStatementError("cached statement plan is invalid")

    with pytest.raises(asyncpg.InvalidCachedStatementError):
        await scope.run(always_stale)


async def test_a_failed_unit_rolls_back_its_writes(client: httpx.AsyncClient, tenant: Tenant) -> None:
    """An exception inside the scope rolls back everything the unit wrote."""
    scope = TenantScope(tenant.slug, f"tenant_{tenant.slug}")

    async def write_then_fail() -> None:
        await scope_connection().execute(
            "INSERT INTO item (id, title, status, created_at, updated_at) "
            "VALUES (gen_random_uuid(), 'ghost', 'pending', now(), now())")
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        await scope.run(write_then_fail)
    body = (await client.get("/items", headers=tenant.headers)).json()
    assert body["total"] == 0


async def test_a_swallowed_query_error_cannot_pass_for_a_commit(client: httpx.AsyncClient, tenant: Tenant) -> None:
    """If a unit hides a failed statement, COMMIT rolls back, and the scope raises instead of succeeding."""
    scope = TenantScope(tenant.slug, f"tenant_{tenant.slug}")

    async def write_then_swallow() -> str:
        connection = scope_connection()
        await connection.execute("INSERT INTO item (id, title, status, created_at, updated_at) "
                                 "VALUES (gen_random_uuid(), 'lost', 'pending', now(), now())")
        with contextlib.suppress(asyncpg.PostgresError):
            await connection.execute("SELECT 1/0")
        return "looks fine"

    with pytest.raises(AbortedTransactionError):
        await scope.run(write_then_swallow)
    assert (await client.get("/items", headers=tenant.headers)).json()["total"] == 0


async def test_a_killed_backend_surfaces_its_own_error_and_the_pool_recovers(
    client: httpx.AsyncClient, tenant: Tenant, pg: asyncpg.Connection
) -> None:
    """A backend killed mid-transaction raises an error the edge maps to 503, and the pool recovers."""
    scope = TenantScope(tenant.slug, f"tenant_{tenant.slug}")

    async def get_killed() -> None:
        connection = scope_connection()
        pid = await connection.fetchval("SELECT pg_backend_pid()")
        await pg.execute("SELECT pg_terminate_backend($1)", pid)
        await connection.fetchval("SELECT 1")

    with pytest.raises(UNAVAILABLE_ERRORS):
        await scope.run(get_killed)
    for _ in range(6):  # every pooled connection is usable again
        assert (await client.get("/items", headers=tenant.headers)).status_code == 200
