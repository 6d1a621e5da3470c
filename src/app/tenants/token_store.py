"""Redis as the hot lookup store of token hashes (T1, T2): best effort, never a hard dependency.

Values are sealed with a server-side key (app.tenants.record_auth) and opened on every read; one
that fails is *rejected*: counted (`redis_records_rejected_total`), logged once per token hash,
never served, and the registry is asked as on a miss. The schema is derived from the slug.

Completeness. `tenant:tokens:complete` holds the signing key's mark once a full load of every live
token from the registry finished (app.tenants.completeness). Lifecycle writes (creation included)
reach Redis through the outbox, so Redis stays complete afterwards, and a lookup reads the record
and the mark in one MGET: with the mark, a miss is an unknown token, answered without PostgreSQL.
For that, records of live tokens carry no TTL (they are replaced or tombstoned by the outbox, never
left to expire while the mark stands); tombstones expire after REDIS_TOKEN_TTL_SECONDS, and an
expired tombstone reads as unknown, the same answer. A FLUSHALL or an empty restarted Redis drops
the mark with the records: misses go to the registry again until a reload sets it again.

Freshness. A sealed record carries the time it is believed until (REDIS_TOKEN_TTL_SECONDS after
sealing, app.tenants.record_auth): past it, the lookup is STALE — the registry answers, and the
record is re-sealed in place (compare-and-set on the value read). A value replayed from the past,
or two lifecycle writes reaching Redis out of order, is so believed for at most that long. A record
never overwrites a tombstone (a revoked hash never becomes live again): record writes go through a
script that leaves a value ending in `.revoked` alone.

Trust. Reads are made only while `trusted` is set: the invalidation listener sets it after a drain
that left nothing owed *and* a successful round trip on this client (`probe`); any Redis error
clears it at once. So a hung Redis costs the one request that found it one timeout, then requests
skip Redis (no refill either) until the listener's probe, once a second, gets an answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable
from typing import Final, cast

import msgspec
from loguru import logger
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from app.telemetry import redis_records_rejected, timed_redis
from app.tenants.errors import InvalidSlug
from app.tenants.naming import schema_for
from app.tenants.record_auth import RecordSigner
from app.tenants.structs import TenantRecord, TenantStatus
from app.tenants.tokens import redis_key

TOMBSTONE: Final = b"revoked"
"""The payload of a revoked hash (sealed like a record)."""
INVALIDATION_CHANNEL: Final = "cobreja:tenant-invalidations"
COMPLETE_KEY: Final = "tenant:tokens:complete"
REPLACE_IF_UNCHANGED: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  if ARGV[3] == 'keepttl' then redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
  else redis.call('SET', KEYS[1], ARGV[2]) end
  return 1
end
return 0
"""
"""Replace KEYS[1]'s value ARGV[1] by ARGV[2] (keeping its TTL if ARGV[3] is `keepttl`), only if unchanged."""
SET_UNLESS_REVOKED: Final = """
local current = redis.call('GET', KEYS[1])
if current and string.sub(current, -8) == '.revoked' then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
return 1
"""
"""Set KEYS[1] to the sealed record ARGV[1] (no TTL) unless it holds a tombstone."""
LOGGED_REJECTIONS: Final = 10_000
"""Token hashes remembered as already logged as rejected (oldest forgotten first)."""
encode_hashes = msgspec.json.Encoder().encode
decode_hashes = msgspec.json.Decoder(list[str]).decode


class StoredRecord(msgspec.Struct, frozen=True, gc=False):
    """The payload of a token record in Redis: no schema (derived from the slug), no token."""

    slug: str
    status: TenantStatus


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(StoredRecord).decode


def encode_record(record: TenantRecord) -> bytes:
    """The payload stored (sealed) for `record`, and owed through the outbox."""
    return _encode(StoredRecord(record.slug, record.status))


def decode_record(payload: bytes) -> TenantRecord | None:
    """The record a payload describes, its schema derived from its slug; None for a malformed one."""
    try:
        stored = _decode(payload)
        return TenantRecord(slug=stored.slug, schema=schema_for(stored.slug), status=stored.status)
    except (msgspec.DecodeError, InvalidSlug):
        return None


class Answer:
    """What the store says about a hash besides a record (see TokenStore.get)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        """The answer's name."""
        return self.name


REVOKED: Final = Answer("REVOKED")
"""A genuine tombstone: 401."""
UNKNOWN: Final = Answer("UNKNOWN")
"""No entry, and Redis is known complete: 401 without asking the registry."""
MISS: Final = Answer("MISS")
"""No entry, Redis not known complete: ask the registry, then refill."""
UNANSWERED: Final = Answer("UNANSWERED")
"""Redis failed or held a rejected value: ask the registry, do not refill."""


class Stale(Answer):
    """A genuine record past its time: ask the registry, then re-seal it in place of `raw`."""

    def __init__(self, raw: bytes) -> None:
        super().__init__("STALE")
        self.raw = raw


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
    """Get, put, refill and revoke sealed tenant records by token hash in Redis, and announce changes."""

    def __init__(self, redis: Redis, ttl_seconds: int, signer: RecordSigner) -> None:
        self.redis = redis
        self.ttl = ttl_seconds
        """Lifetime of a tombstone (records of live tokens do not expire; see the module docstring)."""
        self.signer = signer
        self.trusted = False
        """Whether reads may be believed (see the module docstring)."""
        self.failures = 0
        """Redis errors seen so far (the listener trusts only if none happened during its probe)."""
        self.complete = False
        """Whether the last answer from Redis carried this key's completeness mark."""
        self._logged: dict[str, None] = {}

    async def get(self, token_hash: str) -> TenantRecord | Answer:
        """The hash's genuine record, or REVOKED, UNKNOWN, MISS or UNANSWERED (one MGET)."""
        key = redis_key(token_hash)
        try:
            raw, mark = cast(list[bytes | None], await timed_redis("mget", self.redis.mget(key, COMPLETE_KEY)))
        except RedisError as exc:
            self._failed("get", exc)
            return UNANSWERED
        self.complete = mark == self.signer.mark
        if raw is None:
            return UNKNOWN if self.complete else MISS
        opened = self.signer.open(token_hash, raw)
        if opened is None:
            return self._rejected(token_hash, "its seal does not verify under any REDIS_RECORD_KEYS key")
        if opened.payload == TOMBSTONE:
            return REVOKED
        record = decode_record(opened.payload)
        if record is None:
            return self._rejected(token_hash, "it is not a record")
        return record if opened.fresh else Stale(raw)

    async def write(self, token_hash: str, payload: bytes) -> bool:
        """Store sealed `payload`: the tombstone with its TTL, a record unless a tombstone is there; False if failed."""
        sealed = self.signer.seal(token_hash, payload)
        if payload == TOMBSTONE:
            return await self._quietly("set", self.redis.set(redis_key(token_hash), sealed, ex=self.ttl))
        return await self._quietly("set", self.redis.eval(SET_UNLESS_REVOKED, 1, redis_key(token_hash), sealed))

    async def refresh(self, token_hash: str, stale: Stale, record: TenantRecord) -> bool:
        """Re-seal the registry's `record` in place of the stale value read, if nobody changed it meanwhile."""
        sealed = self.signer.seal(token_hash, encode_record(record))
        return await self._quietly("refresh", self.redis.eval(REPLACE_IF_UNCHANGED, 1, redis_key(token_hash),
                                                               stale.raw, sealed, "persist"))

    async def refill(self, token_hash: str, record: TenantRecord) -> bool:
        """Store a record read from the registry unless the key exists (never overwrite a tombstone)."""
        sealed = self.signer.seal(token_hash, encode_record(record))
        return await self._quietly("refill", self.redis.set(redis_key(token_hash), sealed, nx=True))

    async def forget(self, token_hashes: Iterable[str]) -> bool:
        """Delete these hashes' entries and the completeness mark at once (MULTI), then announce them.

        What a process without a record key does with what it owes: it cannot seal the new values,
        but no key is needed to make every reader ask the registry until a server pays the outbox
        (and a reload marks Redis complete again).
        """
        hashes = list(token_hashes)
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(COMPLETE_KEY, *(redis_key(token_hash) for token_hash in hashes))
        return await self._quietly("forget", pipe.execute()) and await self.announce(hashes)

    async def announce(self, token_hashes: Iterable[str]) -> bool:
        """Tell every worker to drop these hashes from its in-process cache (Redis pub/sub)."""
        hashes = list(token_hashes)
        return not hashes or await self._quietly("publish", self.redis.publish(INVALIDATION_CHANNEL,
                                                                                encode_hashes(hashes)))

    async def probe(self) -> bool:
        """One real round trip (GET of the completeness mark); True if Redis answered."""
        try:
            mark = await timed_redis("get", self.redis.get(COMPLETE_KEY))
        except RedisError as exc:
            self._failed("probe", exc)
            return False
        self.complete = mark == self.signer.mark
        return True

    def _rejected(self, token_hash: str, why: str) -> Answer:
        redis_records_rejected.inc()
        if token_hash not in self._logged:
            if len(self._logged) >= LOGGED_REJECTIONS:
                self._logged.pop(next(iter(self._logged)))
            self._logged[token_hash] = None
            logger.warning("token record in redis rejected, asking the registry ({}): hash {}…",
                           why, token_hash[:12])
        return UNANSWERED

    def _failed(self, what: str, exc: RedisError) -> None:
        self.trusted = False
        self.failures += 1
        logger.warning("redis {} failed; the registry stays authoritative: {}", what, type(exc).__name__)

    async def _quietly(self, what: str, command: Awaitable[object]) -> bool:
        try:
            await timed_redis(what, command)
        except RedisError as exc:
            self._failed(what, exc)
            return False
        return True
