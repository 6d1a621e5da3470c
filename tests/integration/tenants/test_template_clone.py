"""Tenant creation clones a migrated template (T5, T7): the clone is indistinguishable from a migrated schema.

Both schemas are compared through the catalog with their own names masked: tables and columns
(types, nullability, defaults), constraints and indexes under their names, sequences and their
ownership, and the rows of the Piccolo `migration` ledger.
"""

from __future__ import annotations

import asyncpg
import httpx

from app.db import ENGINE
from app.tenants.fleet.schema import migrate_tenant_schema
from app.tenants.naming import TEMPLATE_SCHEMA
from tests.support.tenants import Tenant, unique_slug

CATALOG_QUERIES = {
    "columns": """
        SELECT table_name, column_name, ordinal_position, data_type, udt_name, is_nullable,
               character_maximum_length, numeric_precision, column_default, is_identity, is_generated
        FROM information_schema.columns WHERE table_schema = $1 ORDER BY table_name, ordinal_position""",
    "constraints": """
        SELECT c.relname, k.conname, k.contype, pg_get_constraintdef(k.oid) AS def
        FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
        WHERE k.connamespace = $1::regnamespace ORDER BY c.relname, k.conname""",
    "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = $1 ORDER BY indexname",
    "sequences": """
        SELECT sequence_name, data_type, start_value, minimum_value, maximum_value, increment, cycle_option
        FROM information_schema.sequences WHERE sequence_schema = $1 ORDER BY sequence_name""",
    "owned_sequences": """
        SELECT s.relname, t.relname AS tbl, a.attname, d.deptype FROM pg_class s
        JOIN pg_depend d ON d.objid = s.oid AND d.classid = 'pg_class'::regclass
        JOIN pg_class t ON t.oid = d.refobjid JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
        WHERE s.relnamespace = $1::regnamespace AND s.relkind = 'S' ORDER BY s.relname""",
    "relations": "SELECT relname, relkind, relpersistence FROM pg_class WHERE relnamespace = $1::regnamespace "
                 "ORDER BY relname",
}


async def catalog(pg: asyncpg.Connection, schema: str) -> dict[str, list[tuple[object, ...]]]:
    """The schema's catalog, with its own name replaced by `<schema>` so two schemas compare equal."""
    result = {}
    for name, query in CATALOG_QUERIES.items():
        rows = await pg.fetch(query, schema)
        result[name] = [tuple(str(v).replace(schema, "<schema>") for v in row.values()) for row in rows]
    result["migrations"] = [tuple(r) for r in await pg.fetch(
        f'SELECT app_name, name FROM "{schema}".migration ORDER BY id')]
    return result


async def test_a_cloned_tenant_matches_a_migrated_schema(
    client: httpx.AsyncClient, tenant: Tenant, pg: asyncpg.Connection
) -> None:
    """The catalog of a tenant created by cloning equals that of a schema built by running the migrations."""
    migrated = f"tenant_{unique_slug('mig')}"
    await migrate_tenant_schema(migrated)
    cloned = await catalog(pg, f"tenant_{tenant.slug}")
    reference = await catalog(pg, migrated)
    assert cloned == reference
    assert cloned["columns"], "the comparison saw the tables"
    assert cloned["migrations"], "the ledger rows were copied"
    await pg.execute(f'DROP SCHEMA "{migrated}" CASCADE')


async def test_a_cloned_tenant_has_its_own_sequences(
    client: httpx.AsyncClient, tenant: Tenant, pg: asyncpg.Connection
) -> None:
    """Serial defaults of the clone use the clone's sequences, never the template's."""
    defaults = await pg.fetch("SELECT column_default FROM information_schema.columns WHERE table_schema = $1 "
                              "AND column_default LIKE 'nextval%'", f"tenant_{tenant.slug}")
    assert defaults
    assert all(TEMPLATE_SCHEMA not in row["column_default"] for row in defaults)


async def test_the_template_is_never_a_tenant(client: httpx.AsyncClient, pg: asyncpg.Connection) -> None:
    """The template schema exists, is migrated, and no registry row or token points at it."""
    assert await pg.fetchval("SELECT count(*) FROM pg_namespace WHERE nspname = $1", TEMPLATE_SCHEMA) == 1
    assert await pg.fetchval("SELECT count(*) FROM cobreja.tenant WHERE schema_name = $1", TEMPLATE_SCHEMA) == 0
    async with ENGINE.pool.acquire() as connection:  # type: ignore[union-attr]
        assert await connection.fetchval(f'SELECT count(*) FROM "{TEMPLATE_SCHEMA}".migration') > 0


async def test_a_template_the_cloner_cannot_copy_falls_back_to_migrations(
    client: httpx.AsyncClient, admin_headers: dict[str, str], pg: asyncpg.Connection
) -> None:
    """With an object the cloner does not reproduce (a view) in the template, creation runs the migrations."""
    await pg.execute(f'CREATE VIEW "{TEMPLATE_SCHEMA}".odd AS SELECT 1 AS one')
    try:
        slug = unique_slug("fb")
        created = await client.post("/admin/tenants", json={"slug": slug}, headers=admin_headers)
        assert created.status_code == 201
    finally:
        await pg.execute(f'DROP VIEW "{TEMPLATE_SCHEMA}".odd')
    relations = {r["relname"] for r in await pg.fetch(
        "SELECT relname FROM pg_class WHERE relnamespace = $1::regnamespace AND relkind = 'r'", f"tenant_{slug}")}
    assert relations == {"item", "migration"}
    token = created.json()["token"]
    assert (await client.post("/items", json={"title": "works"}, headers={"X-TOKEN": token})).status_code == 201
