"""The items table. No `schema=`: it lives in every tenant schema and is found by search_path."""

from __future__ import annotations

from piccolo.columns import UUID, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table


class Item(Table, tablename="item"):
    """One item of one tenant."""

    id = UUID(primary_key=True)
    title = Varchar(length=200)
    description = Text(null=True, default=None)
    status = Varchar(length=20, default="pending")
    created_at = Timestamptz(default=TimestamptzNow(), index=True)
    updated_at = Timestamptz(default=TimestamptzNow())
