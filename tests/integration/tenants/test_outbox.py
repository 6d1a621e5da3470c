"""The token outbox says "nothing owed" only when Redis really holds everything owed (T1, R1).

Every worker drains the outbox, and Redis reads are trusted again only after a drain that left
nothing owed. Rows another drainer holds (it is writing them to Redis right now) are skipped by
SKIP LOCKED but are still owed: counting them as settled let a worker trust a just-restarted Redis
that still held a revoked token's old record (a CI failure of the Redis-restart resilience test).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from asyncpg.transaction import Transaction
from redis.asyncio import Redis

from app.tenants import outbox
from app.tenants.token_store import TOMBSTONE, TokenStore
from app.tenants.tokens import hash_token, new_token, redis_key
from tests.support.records import SIGNER

_OWE = "INSERT INTO cobreja.token_outbox (token_hash, value) VALUES ($1, $2) RETURNING id"
_HOLD = "SELECT id FROM cobreja.token_outbox WHERE id = $1 FOR UPDATE"


@pytest.fixture
async def store(client: httpx.AsyncClient, redis: Redis) -> TokenStore:
    """A token store on the session's Redis (the app's lifespan is running, so ENGINE is connected)."""
    return TokenStore(redis, ttl_seconds=60, signer=SIGNER)


@pytest.fixture
async def other_drainer(pg: asyncpg.Connection) -> AsyncIterator[tuple[Transaction, str]]:
    """A second connection holding one owed row locked, as a drainer that is writing it to Redis would.

    The app's own listener drains every second, so the row may be taken between insert and lock:
    then a fresh row is owed and locked again.
    """
    while True:
        token_hash = hash_token(new_token())
        row_id = await pg.fetchval(_OWE, token_hash, TOMBSTONE.decode())
        transaction = pg.transaction()
        await transaction.start()
        if await pg.fetchval(_HOLD, row_id) is not None:
            break
        await transaction.rollback()
    try:
        yield transaction, token_hash
    finally:
        if pg.is_in_transaction():
            await transaction.rollback()


async def test_rows_held_by_another_drainer_are_still_owed(
    store: TokenStore, other_drainer: tuple[Transaction, str], redis: Redis
) -> None:
    """While another drainer holds a row (not yet in Redis), a drain reports something still owed."""
    _, token_hash = other_drainer
    assert await outbox.drain(store) is False
    assert await redis.get(redis_key(token_hash)) is None  # it was not ours to write


async def test_a_drain_after_the_other_drainer_lets_go_settles(
    store: TokenStore, other_drainer: tuple[Transaction, str], redis: Redis
) -> None:
    """Once the holder lets go of the row, a drain writes it to Redis and reports nothing owed."""
    transaction, token_hash = other_drainer
    await transaction.rollback()  # the other drainer gave up: the row is owed to whoever drains next
    deadline = time.monotonic() + 5.0
    while not await outbox.drain(store):  # the app's listener may hold rows for a moment too
        assert time.monotonic() < deadline, "the outbox never settled"
        await asyncio.sleep(0.05)
    opened = SIGNER.open(token_hash, await redis.get(redis_key(token_hash)) or b"")
    assert opened is not None
    assert (opened.payload, opened.by_signing_key) == (TOMBSTONE, True)
