"""The full load that makes Redis "known complete" (T1): a flood of unknown tokens then costs no SQL.

When a worker's listener sees no completeness mark of its key (a fresh, flushed or restarted Redis,
or a new signing key), it runs `reload` in the background. One worker at a time: the first to
`SET tenant:tokens:loading <id> NX PX` holds the lock (it expires if that worker dies). The load
reads every live token from the registry in one query and, 500 hashes per round trip:
- an absent hash gets its sealed record (SET NX: a tombstone written meanwhile wins);
- a tombstone stays (a revocation written meanwhile wins), re-sealed if an older key sealed it;
- a fresh record sealed by an older key of REDIS_RECORD_KEYS is re-sealed with the signing key,
  its payload unchanged (compare-and-set, so a write made meanwhile wins);
- a stale record, or a value no key opens, is replaced by the registry's record (compare-and-set
  too; a stale value is older than this read of the registry);
- a fresh genuine record is left alone (it may be newer than this read of the registry).
The mark is set only if the lock is still ours (one script), so a FLUSHALL during the load, which
takes the lock with it, leaves no mark on a half-loaded Redis. Redis stays complete afterwards
because every lifecycle write reaches it through the outbox.

An eviction policy that may drop any key (`allkeys-*`) would silently make a complete Redis
incomplete: no mark is set then (noeviction or a `volatile-*` policy are fine: live records have
no TTL). After a key rotation, drop the old key only once the mark of the new one is there
(logged as "token records reloaded").
"""

from __future__ import annotations

import secrets
import time
from typing import Final, cast

from loguru import logger
from redis.exceptions import RedisError, ResponseError

from app.telemetry import timed_redis
from app.tenants import registry
from app.tenants.structs import TenantRecord
from app.tenants.token_store import COMPLETE_KEY, REPLACE_IF_UNCHANGED, TOMBSTONE, TokenStore, encode_record
from app.tenants.tokens import redis_key

LOCK_KEY: Final = "tenant:tokens:loading"
LOCK_SECONDS: Final = 60
BATCH: Final = 500
RETRY_EVERY_SECONDS: Final = 5.0
"""Least time between two reload attempts of one worker."""

_MARK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[2], ARGV[2])
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""


class Reloader:
    """Runs at most one full load at a time in this process, and not more often than RETRY_EVERY_SECONDS."""

    def __init__(self, store: TokenStore) -> None:
        self.store = store
        self.last_attempt = -RETRY_EVERY_SECONDS

    def due(self) -> bool:
        """Whether a load should be attempted now (no mark seen, key present, not tried just now)."""
        return (not self.store.complete and self.store.signer.can_sign
                and time.monotonic() - self.last_attempt >= RETRY_EVERY_SECONDS)

    async def reload(self) -> bool:
        """Load every live token into Redis and set the mark; False if another worker loads or Redis failed."""
        self.last_attempt = time.monotonic()
        store = self.store
        holder = secrets.token_hex(16)
        try:
            if not await timed_redis("set", store.redis.set(LOCK_KEY, holder, nx=True, px=LOCK_SECONDS * 1000)):
                return False
            if await _evicts_any_key(store):
                logger.warning("redis may evict any key (maxmemory-policy allkeys-*): not marking token records "
                               "complete; unknown tokens keep costing a registry query")
                return False
            started = time.monotonic()
            rows = await registry.live_token_records()
            for start in range(0, len(rows), BATCH):
                await _load(store, rows[start:start + BATCH])
            marked = await timed_redis("eval", store.redis.eval(_MARK, 2, LOCK_KEY, COMPLETE_KEY,
                                                                holder, store.signer.mark))
        except RedisError as exc:
            logger.warning("token records reload failed: {}", type(exc).__name__)
            return False
        if marked:
            store.complete = True
            logger.info("token records reloaded: {} live tokens in {:.0f} ms; redis is complete",
                        len(rows), (time.monotonic() - started) * 1000)
        return bool(marked)


async def _evicts_any_key(store: TokenStore) -> bool:
    try:
        policy = await store.redis.config_get("maxmemory-policy")
    except ResponseError:  # CONFIG disabled (managed Redis): trust the operator's documentation
        return False
    value = next(iter(policy.values()), b"")
    return (value.decode() if isinstance(value, bytes) else str(value)).startswith("allkeys")


async def _load(store: TokenStore, batch: list[tuple[str, TenantRecord]]) -> None:
    """Write one batch (see the module docstring): one MGET, then one pipeline of the needed writes."""
    signer = store.signer
    current = cast(list[bytes | None], await timed_redis("mget", store.redis.mget([redis_key(h) for h, _ in batch])))
    pipe = store.redis.pipeline(transaction=False)
    for (token_hash, record), raw in zip(batch, current, strict=True):
        key = redis_key(token_hash)
        if raw is None:
            pipe.set(key, signer.seal(token_hash, encode_record(record)), nx=True)
            continue
        opened = signer.open(token_hash, raw)
        if opened is not None and opened.payload == TOMBSTONE:  # a revocation written meanwhile wins
            if not opened.by_signing_key:
                pipe.eval(REPLACE_IF_UNCHANGED, 1, key, raw, signer.seal(token_hash, TOMBSTONE), "keepttl")
            continue
        if opened is not None and opened.fresh:
            if not opened.by_signing_key:
                pipe.eval(REPLACE_IF_UNCHANGED, 1, key, raw, signer.seal(token_hash, opened.payload), "persist")
            continue
        pipe.eval(REPLACE_IF_UNCHANGED, 1, key, raw, signer.seal(token_hash, encode_record(record)), "persist")
    if len(pipe):
        await timed_redis("pipeline", pipe.execute())
