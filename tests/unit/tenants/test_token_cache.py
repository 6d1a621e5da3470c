"""The in-process token cache: TTL-bounded and size-bounded."""

from __future__ import annotations

import time

import pytest

from app.tenants.resolver import TokenCache
from app.tenants.structs import TenantRecord

RECORD = TenantRecord(slug="a", schema="tenant_a", status="active")


def test_fresh_entries_are_served() -> None:
    """A record put in the cache comes back before its TTL."""
    cache = TokenCache(ttl_seconds=60, max_entries=10)
    cache.put("h", RECORD)
    assert cache.get("h") == RECORD


def test_entries_expire_after_the_ttl(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the TTL an entry is a miss (this bounds how long a revoked token can live)."""
    cache = TokenCache(ttl_seconds=5, max_entries=10)
    now = time.monotonic()
    monkeypatch.setattr(time, "monotonic", lambda: now)
    cache.put("h", RECORD)
    monkeypatch.setattr(time, "monotonic", lambda: now + 5.01)
    assert cache.get("h") is None


def test_the_oldest_entry_is_evicted_when_full() -> None:
    """The cache never holds more than max_entries; the oldest goes first."""
    cache = TokenCache(ttl_seconds=60, max_entries=2)
    for key in ("a", "b", "c"):
        cache.put(key, RECORD)
    assert cache.get("a") is None
    assert cache.get("b") == RECORD
    assert cache.get("c") == RECORD


def test_drop_and_clear_forget_entries() -> None:
    """Invalidation removes one entry; clear removes all."""
    cache = TokenCache(ttl_seconds=60, max_entries=10)
    cache.put("a", RECORD)
    cache.put("b", RECORD)
    cache.drop("a")
    assert cache.get("a") is None
    cache.clear()
    assert cache.get("b") is None
