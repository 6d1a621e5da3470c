"""Cross-worker cache invalidation (T1, R1): each worker listens on a Redis channel.

A lifecycle change (revoke, suspend, resume, delete) publishes the affected token hashes; every
worker drops them from its in-process cache within milliseconds. While Redis is unreachable the
listener retries every second; on each (re)connection it clears the whole cache (messages may
have been missed), after writing what the outbox owes Redis; it drains the outbox every second
too. Without Redis, the cache's own TTL still bounds how long a revoked token can live in a worker.

Each drain is followed by a probe: a GET on the request path's own client. Redis reads are
trusted again only when the drain left nothing owed, the probe got an answer and no request saw a
Redis error meanwhile (a drain with no rows never talks to Redis, so it proves nothing). The
probe also tells whether Redis is known complete; if not, a full load runs in the background
(app.tenants.completeness), never holding up invalidations.
"""

from __future__ import annotations

import asyncio
import time

import msgspec
from loguru import logger
from opentelemetry.instrumentation.utils import suppress_instrumentation
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from app.background import pause
from app.tenants import outbox
from app.tenants.completeness import Reloader
from app.tenants.resolver import TokenCache
from app.tenants.token_store import INVALIDATION_CHANNEL, TokenStore, decode_hashes

PING_EVERY_SECONDS = 5.0
RETRY_EVERY_SECONDS = 1.0
DRAIN_EVERY_SECONDS = 1.0


class InvalidationListener:
    """Background task: subscribe, drop announced hashes, reconnect forever."""

    def __init__(self, redis: Redis, cache: TokenCache, store: TokenStore) -> None:
        self.redis = redis
        self.cache = cache
        self.store = store
        self.connected = asyncio.Event()
        self.stopping = asyncio.Event()
        """Set to make `run` return after the drain in flight, if any (see app.background)."""
        self.reloader = Reloader(store)
        self._reloading: asyncio.Task[bool] | None = None

    async def run(self) -> None:
        """Listen until stopped, reconnecting after any Redis failure.

        Its SQL and Redis commands make no spans: a drain every second is not a request's work, and
        as root spans they would flood the trace backend.
        """
        with suppress_instrumentation():
            try:
                await self._listen_forever()
            finally:
                if self._reloading is not None:
                    self._reloading.cancel()

    async def _listen_forever(self) -> None:
        while not self.stopping.is_set():
            try:
                await self._listen_once()
            except (RedisError, OSError) as exc:
                if self.connected.is_set():
                    logger.warning("invalidation channel lost ({}); retrying", type(exc).__name__)
            except Exception:  # a bug here must not silently end invalidation for this worker
                logger.exception("invalidation listener failed; restarting it")
            self.connected.clear()
            self.store.trusted = False
            await pause(self.stopping, RETRY_EVERY_SECONDS)

    async def _listen_once(self) -> None:
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(INVALIDATION_CHANNEL)
            await self._drain()  # Redis must hold what the outbox owes it before it is read again
            self.cache.clear()  # whatever was announced while we were away is unknown
            self.connected.set()
            logger.info("listening for tenant invalidations")
            await self._pump(pubsub)
        finally:
            await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _drain(self) -> None:
        """Pay the outbox, then probe; trust Redis reads only after both and no Redis error meanwhile."""
        failures = self.store.failures
        settled = await outbox.drain(self.store)
        answered = await self.store.probe()
        self.store.trusted = settled and answered and self.store.failures == failures
        if self.store.trusted and self.reloader.due() and (self._reloading is None or self._reloading.done()):
            self._reloading = asyncio.create_task(self.reloader.reload(), name="token-records-reload")

    def _drop_announced(self, data: bytes) -> None:
        try:
            hashes = decode_hashes(data)
        except msgspec.DecodeError:  # not ours: be safe, forget everything
            logger.warning("unreadable invalidation message; clearing the token cache")
            self.cache.clear()
            return
        for token_hash in hashes:
            self.cache.drop(token_hash)

    async def _pump(self, pubsub: PubSub) -> None:
        last_ping = last_drain = time.monotonic()
        while not self.stopping.is_set():
            message = await pubsub.get_message(timeout=1.0)
            if message is not None and message["type"] == "message":  # not our PING's "pong"
                self._drop_announced(message["data"])
            if time.monotonic() - last_drain >= DRAIN_EVERY_SECONDS:
                await self._drain()
                last_drain = time.monotonic()
            if time.monotonic() - last_ping > PING_EVERY_SECONDS:
                await pubsub.ping()  # a dead connection raises here instead of hanging quietly
                last_ping = last_drain = time.monotonic()
