"""Item use cases over Piccolo. Runs inside a TenantScope: unqualified names resolve to one schema."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import msgspec

from app.db import scope_connection
from app.items.errors import ItemNotFound
from app.items.structs import ItemOut, ItemPage, ItemPatch, ItemStatus, ItemWrite
from app.items.tables import Item

_COLUMNS = (Item.id, Item.title, Item.description, Item.status, Item.created_at, Item.updated_at)


def _one(rows: list[dict[str, Any]], item_id: UUID) -> ItemOut:
    if not rows:
        raise ItemNotFound(f"No item {item_id}.")
    return msgspec.convert(rows[0], ItemOut)


# The list is the hot path: one hand-written statement (page and total in one round trip) on the
# scope's connection instead of two Piccolo-built queries, which cost several times the CPU per
# request (bench/README.md has the figures).
_LIST_SQL = (
    "SELECT id, title, description, status, created_at, updated_at, count(*) OVER () AS total"
    " FROM item WHERE ($3::varchar IS NULL OR status = $3)"
    " ORDER BY created_at DESC, id DESC LIMIT $1 OFFSET $2"
)
_COUNT_SQL = "SELECT count(*) FROM item WHERE ($1::varchar IS NULL OR status = $1)"


async def list_items(limit: int, offset: int, status: ItemStatus | None) -> ItemPage:
    """A page of items, newest first (ties broken by id so pages never overlap), and the total."""
    connection = scope_connection()
    wanted = None if status is None else status.value
    rows = await connection.fetch(_LIST_SQL, limit, offset, wanted)
    total = rows[0][6] if rows else await _count_past_the_end(connection, offset, wanted)
    items = [ItemOut(row[0], row[1], row[2], row[3], row[4], row[5]) for row in rows]
    return ItemPage(items=items, total=total, limit=limit, offset=offset)


async def _count_past_the_end(connection: asyncpg.Connection, offset: int, wanted: str | None) -> int:
    """Past the last page the window sees no rows, so the total needs its own count."""
    return int(await connection.fetchval(_COUNT_SQL, wanted)) if offset else 0


async def get_item(item_id: UUID) -> ItemOut:
    """One item, or ItemNotFound."""
    rows = await Item.select(*_COLUMNS).where(Item.id == item_id)
    return _one(rows, item_id)


async def create_item(data: ItemWrite) -> ItemOut:
    """Insert a new item with server-set id and timestamps."""
    now = datetime.now(UTC)
    item = Item(
        id=uuid4(),
        title=data.title,
        description=data.description,
        status=data.status.value,
        created_at=now,
        updated_at=now,
    )
    rows = await Item.insert(item).returning(*_COLUMNS)
    return msgspec.convert(rows[0], ItemOut)


async def replace_item(item_id: UUID, data: ItemWrite) -> ItemOut:
    """PUT: every writable field takes the body's value (or its default)."""
    values = {Item.title: data.title, Item.description: data.description, Item.status: data.status.value}
    return await _update(item_id, values)


async def patch_item(item_id: UUID, data: ItemPatch) -> ItemOut:
    """PATCH: only the fields sent change."""
    values = {Item._meta.get_column_by_name(name): _db_value(value) for name, value in data.changes().items()}
    return await _update(item_id, values)


async def delete_item(item_id: UUID) -> None:
    """Delete one item, or ItemNotFound."""
    rows = await Item.delete().where(Item.id == item_id).returning(Item.id)
    if not rows:
        raise ItemNotFound(f"No item {item_id}.")


async def _update(item_id: UUID, values: dict[Any, Any]) -> ItemOut:
    values[Item.updated_at] = datetime.now(UTC)
    rows = await Item.update(values).where(Item.id == item_id).returning(*_COLUMNS)
    return _one(rows, item_id)


def _db_value(value: object) -> object:
    return value.value if isinstance(value, ItemStatus) else value
