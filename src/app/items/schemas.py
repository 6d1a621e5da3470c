"""Wire shapes of items (I1, I4): msgspec Structs that validate on decode."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec

Title = Annotated[str, msgspec.Meta(min_length=1, max_length=200, description="1–200 characters, trimmed")]
Description = Annotated[str, msgspec.Meta(max_length=5000)]


class ItemStatus(enum.StrEnum):
    """Where an item stands."""

    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    DONE = "done"


def _trimmed_title(title: str) -> str:
    trimmed = title.strip()
    if not trimmed:
        raise ValueError("title must not be blank")
    return trimmed


class ItemWrite(msgspec.Struct, forbid_unknown_fields=True):
    """Body of POST and PUT: a whole item (PUT resets omitted optional fields to their defaults)."""

    title: Title
    description: Description | None = None
    status: ItemStatus = ItemStatus.PENDING

    def __post_init__(self) -> None:
        self.title = _trimmed_title(self.title)


class ItemPatch(msgspec.Struct, forbid_unknown_fields=True):
    """Body of PATCH: only the fields present change."""

    title: Title | msgspec.UnsetType = msgspec.UNSET
    description: Description | msgspec.UnsetType | None = msgspec.UNSET
    status: ItemStatus | msgspec.UnsetType = msgspec.UNSET

    def __post_init__(self) -> None:
        if self.title is not msgspec.UNSET:
            self.title = _trimmed_title(self.title)

    def changes(self) -> dict[str, object]:
        """The fields the client sent, by name."""
        return {f: v for f in self.__struct_fields__ if (v := getattr(self, f)) is not msgspec.UNSET}


class ItemOut(msgspec.Struct):
    """An item as the API returns it."""

    id: UUID
    title: str
    description: str | None
    status: ItemStatus
    created_at: datetime
    updated_at: datetime


class ItemPage(msgspec.Struct):
    """One page of items, newest first, with the total matching the filter."""

    items: list[ItemOut]
    total: int
    limit: int
    offset: int
