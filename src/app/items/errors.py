"""Errors of the items domain (mapped to problem+json by `app.errors`)."""

from __future__ import annotations

from app.errors import NotFound


class ItemNotFound(NotFound):
    """No item with this id in the caller's schema."""
