"""Fast tenant creation by cloning a pre-migrated template schema (T5, T7).

Creating a tenant by running every migration costs time in proportion to the migration history.
Instead, `tenant_template` is kept migrated (brought up to date, under its migration lock, before
each clone) and a new schema is built from its catalog: one CREATE TABLE per table, its
sequences, its constraints and indexes under their own names, and its rows (the Piccolo
`migration` ledger, plus any seed data). The cost follows the number of tables, not of
migrations. A template holding anything this cloner does not reproduce (views, functions,
triggers, types) makes `clone_schema` return False, and the caller migrates the schema instead.
"""

from __future__ import annotations

import asyncpg

from app.db import quote_ident
from app.tenants.fleet.schema import hold_migration_lock_shared, migrate_tenant_schema
from app.tenants.naming import TEMPLATE_SCHEMA

_UNSUPPORTED = """
SELECT (SELECT count(*) FROM pg_class WHERE relnamespace = $1::regnamespace AND relkind NOT IN ('r', 'i', 'S'))
     + (SELECT count(*) FROM pg_proc WHERE pronamespace = $1::regnamespace)
     + (SELECT count(*) FROM pg_type WHERE typnamespace = $1::regnamespace AND typtype NOT IN ('c', 'b')
        OR typnamespace = $1::regnamespace AND typtype = 'c' AND typrelid = 0)
     + (SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
        WHERE c.relnamespace = $1::regnamespace AND NOT t.tgisinternal)
"""
_TABLES = "SELECT relname FROM pg_class WHERE relnamespace = $1::regnamespace AND relkind = 'r' ORDER BY oid"
_SEQUENCES = """
SELECT s.relname AS seq, t.relname AS tbl, a.attname AS col, format_type(q.seqtypid, NULL) AS type,
       q.seqstart, q.seqincrement, q.seqmin, q.seqmax, q.seqcache, q.seqcycle
FROM pg_class s
JOIN pg_sequence q ON q.seqrelid = s.oid
JOIN pg_depend d ON d.objid = s.oid AND d.classid = 'pg_class'::regclass AND d.deptype = 'a'
JOIN pg_class t ON t.oid = d.refobjid
JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
WHERE s.relnamespace = $1::regnamespace AND s.relkind = 'S'
ORDER BY s.oid
"""
_CONSTRAINTS = """
SELECT c.relname AS tbl, k.conname, pg_get_constraintdef(k.oid) AS def
FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
WHERE k.connamespace = $1::regnamespace AND k.contype IN ('p', 'u', 'x', 'f')
ORDER BY k.contype = 'f', k.oid
"""
_INDEXES = """
SELECT pg_get_indexdef(i.indexrelid) AS def, c.relname AS index_name
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
WHERE c.relnamespace = $1::regnamespace
  AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid AND k.contype IN ('p', 'u', 'x'))
ORDER BY i.indexrelid
"""
_LIKE = "INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING GENERATED INCLUDING IDENTITY INCLUDING STORAGE " \
        "INCLUDING COMMENTS INCLUDING COMPRESSION"


async def ensure_template() -> None:
    """Create `tenant_template` if missing and apply any pending migration to it (a no-op when current)."""
    await migrate_tenant_schema(TEMPLATE_SCHEMA)


async def clone_schema(connection: asyncpg.Connection, target: str) -> bool:
    """Build the (already created, empty) schema `target` as a copy of the template; False if it can't.

    Runs in the caller's transaction. Reads the template's catalog with `search_path` set to the
    template, so definitions come back unqualified and are replayed under `target`.
    """
    source = quote_ident(TEMPLATE_SCHEMA)
    await hold_migration_lock_shared(connection, TEMPLATE_SCHEMA)  # clones side by side, never mid-migration
    if await connection.fetchval(_UNSUPPORTED, source):
        return False
    tables = [row["relname"] for row in await connection.fetch(_TABLES, source)]
    sequences = await connection.fetch(_SEQUENCES, source)
    constraints = await connection.fetch(_CONSTRAINTS, source)
    indexes = await connection.fetch(_INDEXES, source)
    dst = quote_ident(target)
    for table in map(quote_ident, tables):
        await connection.execute(f"CREATE TABLE {dst}.{table} (LIKE {source}.{table} {_LIKE})")
    for seq in sequences:
        await _clone_sequence(connection, seq, dst)
    for row in constraints:
        await connection.execute(_qualified(f"ALTER TABLE {dst}.{quote_ident(row['tbl'])} ADD CONSTRAINT "
                                            f"{quote_ident(row['conname'])} {row['def']}", source, dst))
    for row in indexes:
        await connection.execute(_qualified(row["def"], source, dst))
    for table in tables:
        await connection.execute(f"INSERT INTO {dst}.{quote_ident(table)} OVERRIDING SYSTEM VALUE "
                                 f"SELECT * FROM {source}.{quote_ident(table)}")
    return True


async def _clone_sequence(connection: asyncpg.Connection, seq: asyncpg.Record, dst: str) -> None:
    name, table, column = quote_ident(seq["seq"]), quote_ident(seq["tbl"]), quote_ident(seq["col"])
    cycle = "CYCLE" if seq["seqcycle"] else "NO CYCLE"
    await connection.execute(
        f"CREATE SEQUENCE {dst}.{name} AS {seq['type']} INCREMENT {seq['seqincrement']} MINVALUE {seq['seqmin']} "
        f"MAXVALUE {seq['seqmax']} START {seq['seqstart']} CACHE {seq['seqcache']} {cycle} "
        f"OWNED BY {dst}.{table}.{column}"
    )
    regclass = f"{dst}.{name}".replace("'", "''")
    default = f"nextval('{regclass}'::regclass)"
    await connection.execute(f"ALTER TABLE {dst}.{table} ALTER COLUMN {column} SET DEFAULT {default}")
    await connection.execute(
        f"SELECT setval($1::regclass, s.last_value, s.is_called) FROM {quote_ident(TEMPLATE_SCHEMA)}.{name} s",
        f"{dst}.{name}",
    )


def _qualified(definition: str, source: str, dst: str) -> str:
    """Point a definition the catalog printed for the template at the target schema."""
    bare_source = source.strip('"')
    for prefix in (f"{source}.", f"{bare_source}."):
        definition = definition.replace(f" {prefix}", f" {dst}.")
    return definition
