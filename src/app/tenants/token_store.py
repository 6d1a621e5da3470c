"""Redis as the hot lookup store of token hashes (T1, T2): best effort, never a hard dependency.

Every call is bounded by the client's socket timeout; a Redis failure is logged and reported as
a miss, so resolution falls through to the registry in PostgreSQL (R1).
"""

from __future__ import annotations

import msgspec
from loguru import logger
from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.tenants.schemas import TenantRecord
from app.tenants.tokens import redis_key

_decode = msgspec.json.Decoder(TenantRecord).decode
_encode = msgspec.json.Encoder().encode


def connect_redis(url: str, timeout_seconds: float) -> Redis:
    """A pooled asyncio client (hiredis parser when installed) with bounded timeouts."""
    client: Redis = Redis.from_url(
        url,
        socket_timeout=timeout_seconds,
        socket_connect_timeout=timeout_seconds,
        health_check_interval=30,
    )
    return client


class TokenStore:
    """Get, put and drop tenant records by token hash in Redis."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def get(self, token_hash: str) -> TenantRecord | None:
        """The record for `token_hash`, or None on a miss or when Redis fails."""
        try:
            raw = await self.redis.get(redis_key(token_hash))
        except RedisError as exc:
            logger.warning("redis get failed, falling back to the registry: {}", type(exc).__name__)
            return None
        return None if raw is None else _decode(raw)

    async def put(self, token_hash: str, record: TenantRecord) -> bool:
        """Store the record; False (logged) when Redis is unavailable."""
        try:
            await self.redis.set(redis_key(token_hash), _encode(record))
        except RedisError as exc:
            logger.warning("redis set failed; the registry stays authoritative: {}", type(exc).__name__)
            return False
        return True

    async def drop(self, token_hash: str) -> bool:
        """Remove the record; False (logged) when Redis is unavailable."""
        try:
            await self.redis.delete(redis_key(token_hash))
        except RedisError as exc:
            logger.warning("redis delete failed: {}", type(exc).__name__)
            return False
        return True
