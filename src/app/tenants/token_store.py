"""Redis as the hot lookup store of token hashes (T1, T2): best effort, never a hard dependency.

Every call is bounded by the client's socket timeout; a Redis failure is logged and reported as
a miss, so resolution falls through to the registry in PostgreSQL (R1). Entries expire (so a
missed invalidation heals itself), a revoked hash leaves a tombstone for as long, and refills
from the registry never overwrite what is there (a refill racing a revocation cannot revive it).
Writes that fail are kept and replayed by `flush_pending` once Redis answers again, followed by
an invalidation message so every worker drops what it cached meanwhile.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

import msgspec
from loguru import logger
from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.tenants.schemas import TenantRecord
from app.tenants.tokens import redis_key

TOMBSTONE: Final = b"revoked"
INVALIDATION_CHANNEL: Final = "cobreja:tenant-invalidations"
_decode = msgspec.json.Decoder(TenantRecord).decode
_encode = msgspec.json.Encoder().encode
encode_hashes = msgspec.json.Encoder().encode
decode_hashes = msgspec.json.Decoder(list[str]).decode


class Revoked:
    """The store's answer for a token that was revoked (its tombstone is still there)."""


REVOKED: Final = Revoked()


def connect_redis(url: str, timeout_seconds: float | None) -> Redis:
    """A pooled asyncio client (hiredis parser when installed); `None` means no read timeout."""
    client: Redis = Redis.from_url(
        url, socket_timeout=timeout_seconds, socket_connect_timeout=timeout_seconds or 2.0, health_check_interval=30
    )
    return client


class TokenStore:
    """Get, put, refill and revoke tenant records by token hash in Redis, and announce changes."""

    def __init__(self, redis: Redis, ttl_seconds: int) -> None:
        self.redis = redis
        self.ttl = ttl_seconds
        self.pending: dict[str, bytes] = {}
        """Writes Redis refused: token hash → value to set (a record or the tombstone)."""

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
        """Store the authoritative record (after a registry commit); remembered for replay on failure."""
        return await self._write(token_hash, _encode(record))

    async def revoke(self, token_hash: str) -> bool:
        """Replace the record by a tombstone; remembered for replay on failure."""
        return await self._write(token_hash, TOMBSTONE)

    async def refill(self, token_hash: str, record: TenantRecord) -> bool:
        """Store a record read from the registry unless the key exists (never overwrite a tombstone)."""
        command = self.redis.set(redis_key(token_hash), _encode(record), ex=self.ttl, nx=True)
        return await self._quietly("refill", command)

    async def announce(self, token_hashes: Iterable[str]) -> bool:
        """Tell every worker to drop these hashes from its in-process cache (Redis pub/sub)."""
        hashes = list(token_hashes)
        return not hashes or await self._quietly("publish", self.redis.publish(INVALIDATION_CHANNEL,
                                                                                encode_hashes(hashes)))

    async def flush_pending(self) -> int:
        """Replay the writes Redis refused, then announce them; return how many are still pending."""
        for token_hash, value in list(self.pending.items()):
            if await self._quietly("replay", self.redis.set(redis_key(token_hash), value, ex=self.ttl)):
                del self.pending[token_hash]
                await self.announce([token_hash])
        return len(self.pending)

    async def _write(self, token_hash: str, value: bytes) -> bool:
        if await self._quietly("set", self.redis.set(redis_key(token_hash), value, ex=self.ttl)):
            self.pending.pop(token_hash, None)
            return True
        self.pending[token_hash] = value
        return False

    @staticmethod
    async def _quietly(what: str, command: object) -> bool:
        try:
            await command  # type: ignore[misc]
        except RedisError as exc:
            logger.warning("redis {} failed; the registry stays authoritative: {}", what, type(exc).__name__)
            return False
        return True
