"""Redis as the hot lookup store of token hashes (T1, T2): best effort, never a hard dependency.

Every call is bounded by the client's socket timeout; a Redis failure is logged and reported as
a miss, so resolution falls through to the registry in PostgreSQL (R1). Entries expire (so a
missed invalidation heals itself), a revoked hash leaves a tombstone for as long, and refills
from the registry never overwrite what is there (a refill racing a revocation cannot revive it).
Lifecycle writes go through the outbox (app.tenants.outbox) so none is lost to an outage.

Reads are trusted only while `trusted` is set: the invalidation listener sets it once it is
subscribed and the outbox is drained, and any Redis error clears it. A Redis that comes back
with stale data (a restart from disk, a hang during a revocation) is therefore not read until
what the outbox owes it has been written.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable
from typing import Final

import msgspec
from loguru import logger
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from app.telemetry import timed_redis
from app.tenants.structs import TenantRecord
from app.tenants.tokens import redis_key

TOMBSTONE: Final = b"revoked"
INVALIDATION_CHANNEL: Final = "cobreja:tenant-invalidations"
_decode = msgspec.json.Decoder(TenantRecord).decode
encode_record = msgspec.json.Encoder().encode
encode_hashes = msgspec.json.Encoder().encode
decode_hashes = msgspec.json.Decoder(list[str]).decode


class Revoked:
    """The store's answer for a token that was revoked (its tombstone is still there)."""


REVOKED: Final = Revoked()


def connect_redis(url: str, timeout_seconds: float | None) -> Redis:
    """A pooled asyncio client (hiredis parser when installed); `None` means no read timeout.

    redis-py's own retries (with backoff) are turned off: a failed call falls back to the registry
    or the outbox at once, instead of holding a request for seconds while Redis is down.
    """
    client: Redis = Redis.from_url(
        url, socket_timeout=timeout_seconds, socket_connect_timeout=timeout_seconds or 2.0, health_check_interval=30,
        retry=Retry(NoBackoff(), retries=0),
    )
    return client


class TokenStore:
    """Get, put, refill and revoke tenant records by token hash in Redis, and announce changes."""

    def __init__(self, redis: Redis, ttl_seconds: int) -> None:
        self.redis = redis
        self.ttl = ttl_seconds
        self.trusted = False
        """Whether reads may be believed (see the module docstring)."""

    async def get(self, token_hash: str) -> TenantRecord | Revoked | None:
        """The record, REVOKED for a tombstone, or None on a miss, an unreadable entry or a Redis failure."""
        key = redis_key(token_hash)
        try:
            raw = await timed_redis("get", self.redis.get(key))
        except RedisError as exc:
            self.trusted = False
            logger.warning("redis get failed, falling back to the registry: {}", type(exc).__name__)
            return None
        if raw is None:
            return None
        if raw == TOMBSTONE:
            return REVOKED
        try:
            return _decode(raw)
        except msgspec.DecodeError:  # an older or foreign shape: drop it, the registry will refill
            logger.warning("unreadable token record in redis; dropped")
            await self._quietly("delete", self.redis.delete(key))
            return None

    async def put(self, token_hash: str, record: TenantRecord) -> bool:
        """Store a new token's record (a lost write only costs a registry lookup later)."""
        return await self.write(token_hash, encode_record(record))

    async def write(self, token_hash: str, value: bytes) -> bool:
        """SET the hash's entry to `value` (a record or the tombstone) with the TTL; False on failure."""
        return await self._quietly("set", self.redis.set(redis_key(token_hash), value, ex=self.ttl))

    async def refill(self, token_hash: str, record: TenantRecord) -> bool:
        """Store a record read from the registry unless the key exists (never overwrite a tombstone)."""
        command = self.redis.set(redis_key(token_hash), encode_record(record), ex=self.ttl, nx=True)
        return await self._quietly("refill", command)

    async def announce(self, token_hashes: Iterable[str]) -> bool:
        """Tell every worker to drop these hashes from its in-process cache (Redis pub/sub)."""
        hashes = list(token_hashes)
        return not hashes or await self._quietly("publish", self.redis.publish(INVALIDATION_CHANNEL,
                                                                                encode_hashes(hashes)))

    async def _quietly(self, what: str, command: Awaitable[object]) -> bool:
        try:
            await timed_redis(what, command)
        except RedisError as exc:
            self.trusted = False
            logger.warning("redis {} failed; the registry stays authoritative: {}", what, type(exc).__name__)
            return False
        return True
