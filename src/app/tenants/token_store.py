"""Redis as the hot lookup store of token hashes (T1, T2): best effort, never a hard dependency.

Every call is bounded by the client's socket timeout; a Redis failure is logged and reported as
a miss, so resolution falls through to the registry in PostgreSQL (R1). Entries expire (so a
missed invalidation heals itself), a revoked hash leaves a tombstone for as long, and refills
from the registry never overwrite what is there (a refill racing a revocation cannot revive it).
"""

from __future__ import annotations

from typing import Final

import msgspec
from loguru import logger
from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.tenants.schemas import TenantRecord
from app.tenants.tokens import redis_key

TOMBSTONE: Final = b"revoked"
_decode = msgspec.json.Decoder(TenantRecord).decode
_encode = msgspec.json.Encoder().encode


class Revoked:
    """The store's answer for a token that was revoked (its tombstone is still there)."""


REVOKED: Final = Revoked()


def connect_redis(url: str, timeout_seconds: float) -> Redis:
    """A pooled asyncio client (hiredis parser when installed) with bounded timeouts."""
    client: Redis = Redis.from_url(
        url, socket_timeout=timeout_seconds, socket_connect_timeout=timeout_seconds, health_check_interval=30
    )
    return client


class TokenStore:
    """Get, put, refill and revoke tenant records by token hash in Redis."""

    def __init__(self, redis: Redis, ttl_seconds: int) -> None:
        self.redis = redis
        self.ttl = ttl_seconds

    async def get(self, token_hash: str) -> TenantRecord | Revoked | None:
        """The record, REVOKED for a tombstone, or None on a miss, an unreadable entry or a Redis failure."""
        key = redis_key(token_hash)
        try:
            raw = await self.redis.get(key)
        except RedisError as exc:
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
        """Store the authoritative record (after a registry commit); False when Redis is unavailable."""
        return await self._quietly("set", self.redis.set(redis_key(token_hash), _encode(record), ex=self.ttl))

    async def refill(self, token_hash: str, record: TenantRecord) -> bool:
        """Store a record read from the registry unless the key exists (never overwrite a tombstone)."""
        command = self.redis.set(redis_key(token_hash), _encode(record), ex=self.ttl, nx=True)
        return await self._quietly("refill", command)

    async def revoke(self, token_hash: str) -> bool:
        """Replace the record by a tombstone; False (logged) when Redis is unavailable."""
        return await self._quietly("revoke", self.redis.set(redis_key(token_hash), TOMBSTONE, ex=self.ttl))

    @staticmethod
    async def _quietly(what: str, command: object) -> bool:
        try:
            await command  # type: ignore[misc]
        except RedisError as exc:
            logger.warning("redis {} failed; the registry stays authoritative: {}", what, type(exc).__name__)
            return False
        return True
