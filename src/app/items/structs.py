"""Wire shapes of items (I1, I4): msgspec Structs that validate on decode."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec

TITLE_MAX_LENGTH = 200
DESCRIPTION_MAX_LENGTH = 5000

# The rules of a title are checked in code (`_checked_title`), not by a msgspec pattern: the length
# counts after trimming, and each broken rule gets its own message. PostgreSQL text cannot hold NUL,
# so it is refused here (a 400) rather than by the database (a 500).
Title = Annotated[str, msgspec.Meta(description=f"1–{TITLE_MAX_LENGTH} characters after trimming surrounding "
                                                "spaces; not blank; no NUL characters")]
Description = Annotated[str, msgspec.Meta(description=f"up to {DESCRIPTION_MAX_LENGTH} characters; no NUL "
                                                      "characters")]


class ItemStatus(enum.StrEnum):
    """Where an item stands."""

    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    DONE = "done"


def _checked_title(title: str) -> str:
    """`title` trimmed, or ValueError naming the rule it breaks (msgspec turns it into a 400)."""
    trimmed = title.strip()
    if "\x00" in title:
        raise ValueError("`title` must not contain NUL characters")
    if not trimmed:
        raise ValueError("`title` must not be blank")
    if len(trimmed) > TITLE_MAX_LENGTH:
        raise ValueError(f"`title` must be at most {TITLE_MAX_LENGTH} characters (after trimming spaces)")
    return trimmed


def _checked_description(description: str | None) -> None:
    """ValueError when `description` breaks a rule."""
    if description is None:
        return
    if "\x00" in description:
        raise ValueError("`description` must not contain NUL characters")
    if len(description) > DESCRIPTION_MAX_LENGTH:
        raise ValueError(f"`description` must be at most {DESCRIPTION_MAX_LENGTH} characters")


class ItemWrite(msgspec.Struct, forbid_unknown_fields=True):
    """Body of POST and PUT: a whole item (PUT resets omitted optional fields to their defaults)."""

    title: Title
    description: Description | None = None
    status: ItemStatus = ItemStatus.PENDING

    def __post_init__(self) -> None:
        self.title = _checked_title(self.title)
        _checked_description(self.description)


class ItemPatch(msgspec.Struct, forbid_unknown_fields=True):
    """Body of PATCH: only the fields present change."""

    title: Title | msgspec.UnsetType = msgspec.UNSET
    description: Description | msgspec.UnsetType | None = msgspec.UNSET
    status: ItemStatus | msgspec.UnsetType = msgspec.UNSET

    def __post_init__(self) -> None:
        if self.title is not msgspec.UNSET:
            self.title = _checked_title(self.title)
        if self.description is not msgspec.UNSET:
            _checked_description(self.description)

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
