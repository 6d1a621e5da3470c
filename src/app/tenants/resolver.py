"""Token → tenant resolution (T1): in-process TTL cache, then Redis, then the registry.

The in-process cache keeps Redis off the hot path (a Redis GET per request halves throughput,
DESIGN.md §3). Its TTL bounds how long a revoked token can outlive its revocation in a worker
that missed the invalidation; a registry hit refills Redis so a flushed Redis heals itself (T2).

While Redis is trusted and known complete (app.tenants.token_store), unknown and revoked tokens
take the same path: one MGET, then 401, no SQL. Only a miss on an incomplete Redis, a rejected
record, a failed Redis call or an untrusted Redis reaches the registry, and only a plain miss
refills Redis (after a failure the refill would be a second timeout).
"""

from __future__ import annotations

import time

from app.telemetry import token_cache_hits, token_cache_misses
from app.tenants import registry
from app.tenants.structs import TenantRecord
from app.tenants.token_store import MISS, REVOKED, UNANSWERED, UNKNOWN, Stale, TokenStore
from app.tenants.tokens import hash_token


class TokenCache:
    """A bounded dict of token hash → (expiry, record); oldest entries are evicted first.

    Hand-written on purpose: a dict lookup plus a clock read is all the hot path can afford, and
    eviction by insertion order is enough at this size.
    """

    def __init__(self, ttl_seconds: float, max_entries: int) -> None:
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, TenantRecord]] = {}

    def get(self, token_hash: str) -> TenantRecord | None:
        """The cached record if present and fresh."""
        entry = self._entries.get(token_hash)
        if entry is None:
            return None
        if entry[0] < time.monotonic():
            self._entries.pop(token_hash, None)
            return None
        return entry[1]

    def put(self, token_hash: str, record: TenantRecord) -> None:
        """Cache `record` for the TTL, evicting the oldest entry when full."""
        if len(self._entries) >= self.max_entries and token_hash not in self._entries:
            self._entries.pop(next(iter(self._entries)))
        self._entries[token_hash] = (time.monotonic() + self.ttl, record)

    def drop(self, token_hash: str) -> None:
        """Forget one token (invalidation)."""
        self._entries.pop(token_hash, None)

    def clear(self) -> None:
        """Forget everything."""
        self._entries.clear()


class TokenResolver:
    """Resolve a raw token to its tenant record, or None when it matches nothing."""

    def __init__(self, cache: TokenCache, store: TokenStore) -> None:
        self.cache = cache
        self.store = store

    async def resolve(self, token: str) -> TenantRecord | None:
        """Cache → Redis (while trusted) → registry (unless Redis is complete); None for unknown or revoked tokens."""
        token_hash = hash_token(token)
        record = self.cache.get(token_hash)
        if record is not None:
            token_cache_hits.inc()
            return record
        token_cache_misses.inc()
        stored = await self.store.get(token_hash) if self.store.trusted else UNANSWERED
        if isinstance(stored, TenantRecord):
            self.cache.put(token_hash, stored)
            return stored
        if stored is UNKNOWN or stored is REVOKED:
            return None
        record = await registry.record_for_token_hash(token_hash)
        if record is None:
            return None
        if stored is MISS:
            await self.store.refill(token_hash, record)
        elif isinstance(stored, Stale):
            await self.store.refresh(token_hash, stored, record)
        self.cache.put(token_hash, record)
        return record
