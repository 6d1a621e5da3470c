"""Item use cases over Piccolo. Runs inside a TenantScope: unqualified names resolve to one schema."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import msgspec

from app.errors import ItemNotFound
from app.items.schemas import ItemOut, ItemPage, ItemPatch, ItemStatus, ItemWrite
from app.items.tables import Item

_COLUMNS = (Item.id, Item.title, Item.description, Item.status, Item.created_at, Item.updated_at)
_to_items = msgspec.convert


def _one(rows: list[dict[str, Any]], item_id: UUID) -> ItemOut:
    if not rows:
        raise ItemNotFound(f"No item {item_id}.")
    return msgspec.convert(rows[0], ItemOut)


async def list_items(limit: int, offset: int, status: ItemStatus | None) -> ItemPage:
    """A page of items, newest first (ties broken by id so pages never overlap)."""
    where = Item.status == status.value if status is not None else None
    count = Item.count()
    page = Item.select(*_COLUMNS).order_by(Item.created_at, Item.id, ascending=False).limit(limit).offset(offset)
    if where is not None:
        count, page = count.where(where), page.where(where)
    total = await count
    rows = await page if total > offset else []
    return ItemPage(items=_to_items(rows, list[ItemOut]), total=total, limit=limit, offset=offset)


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
