"""Small pure parts of `app dev`."""

from __future__ import annotations

import pytest

from app.dev import without_password


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:s3cret@db:5432/app", "postgresql://u:***@db:5432/app"),
        ("redis://:s3cret@cache:6379/0", "redis://:***@cache:6379/0"),
        ("postgresql://postgres:@/postgres?host=/tmp/x", "postgresql://postgres:@/postgres?host=/tmp/x"),
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
    ],
)
def test_passwords_are_masked_in_printed_urls(url: str, shown: str) -> None:
    """The dev banner never prints a DSN's password."""
    assert without_password(url) == shown
