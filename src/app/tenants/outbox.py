"""The transactional outbox of Redis writes (T1, R1).

A lifecycle change records what Redis must hold for each affected token hash (a record or the
tombstone) in `cobreja.token_outbox`, in the same transaction as the registry change. `drain`
then writes those values to Redis, announces the hashes on the invalidation channel and deletes
the rows. Whoever changed something drains at once; every worker's invalidation listener drains
once a second and on each (re)connection, so nothing owed to Redis is lost to a Redis outage or
to a process (say the CLI) that exits before Redis answers again.
"""

from __future__ import annotations

import asyncpg
from loguru import logger

from app.db import ENGINE
from app.tenants.tables import TokenOutbox
from app.tenants.token_store import TokenStore

_TAKE = (
    "SELECT id, token_hash, value FROM cobreja.token_outbox ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED"
)
_OWED = "SELECT DISTINCT token_hash FROM cobreja.token_outbox LIMIT {}"
_DONE = "DELETE FROM cobreja.token_outbox WHERE id = any($1::int[])"
_ANY_LEFT = "SELECT EXISTS (SELECT 1 FROM cobreja.token_outbox)"
"""Sees rows another drainer holds too: a plain read does not skip locked rows."""
_BACKLOG = "SELECT count(*) FROM cobreja.token_outbox"
BATCH = 500


async def record(entries: list[tuple[str, bytes]]) -> None:
    """Owe Redis these (token hash, value) writes; call inside the lifecycle change's transaction."""
    if entries:
        await TokenOutbox.insert(*(TokenOutbox(token_hash=h, value=v.decode()) for h, v in entries))


async def drain(store: TokenStore) -> bool:
    """Write what is owed to Redis, announce it, forget it; True when nothing is left owed.

    Rows another drainer holds are skipped (SKIP LOCKED), but they are still owed: until that
    drainer commits, Redis may not hold them yet, so they make the answer False (trusting Redis
    then let a revoked token through right after a Redis restart). A Redis failure keeps the rest
    for the next drain; writes are idempotent, so a repeat after a crash is harmless. A store
    without a record key (a CLI run with neither REDIS_RECORD_KEYS nor ADMIN_API_KEY) cannot seal
    values: it deletes the owed entries and the completeness mark instead (readers then ask the
    registry at once) and leaves the rows to the servers' listeners. "Nothing left owed" says
    nothing of whether Redis answers (no rows: no Redis call); the listener checks that itself.
    """
    if not store.signer.can_sign:
        hashes = [row["token_hash"] for row in await TokenOutbox.raw(_OWED, BATCH)]
        if hashes:
            await store.forget(hashes)
        return False
    async with ENGINE.transaction() as transaction:
        connection = transaction.connection
        rows = await connection.fetch(_TAKE, BATCH)
        written = await _write_until_failure(store, rows)
        if written and await store.announce([row["token_hash"] for row in written]):
            await connection.execute(_DONE, [row["id"] for row in written])
        else:
            written = []
        settled = len(written) == len(rows) < BATCH and not await connection.fetchval(_ANY_LEFT)
    if rows:
        logger.info("token outbox drained: {} of {} written to redis", len(written), len(rows))
    return settled


async def _write_until_failure(store: TokenStore, rows: list[asyncpg.Record]) -> list[asyncpg.Record]:
    """Write rows in order and stop at the first failure: one timeout, not one per row, when Redis is down.

    A row holds the payload (record or tombstone); the store seals it with the signing key.
    """
    written = []
    for row in rows:
        if not await store.write(row["token_hash"], row["value"].encode()):
            break
        written.append(row)
    return written


async def backlog() -> int:
    """Redis writes still owed (rows another drainer holds included)."""
    return int((await TokenOutbox.raw(_BACKLOG))[0]["count"])
