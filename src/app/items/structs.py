"""Wire shapes of items (I1, I4): msgspec Structs that validate on decode."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec

# PostgreSQL text cannot hold NUL, so it is refused here (a 400) rather than by the database (a 500).
# The title must also hold a non-space character; it is trimmed after validation.
Title = Annotated[
    str, msgspec.Meta(min_length=1, max_length=200, pattern=r"^[^\x00]*[^\x00\s][^\x00]*$",
                      description="1–200 characters, not blank, trimmed")
]
Description = Annotated[str, msgspec.Meta(max_length=5000, pattern=r"^[^\x00]*$")]


class ItemStatus(enum.StrEnum):
    """Where an item stands."""

    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    DONE = "done"


def _trimmed_title(title: str) -> str:
    return title.strip()  # never empty: the Title pattern requires a non-space character


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
