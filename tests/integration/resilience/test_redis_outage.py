"""Redis hung, killed and restarted under two `app run` processes (R1): the service stays up and recovers by itself.

While Redis is unavailable tokens still resolve, revocations still take effect within the cache
TTL; once it is back, both processes re-subscribe and replay the writes Redis missed, without help.
The processes use a Valkey and a database of this test's own.
"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import httpx

from app.tenants.tokens import new_token
from tests.support.embedded import OwnValkey
from tests.support.probes import (
    INVALIDATION_BOUND_SECONDS,
    admin_call,
    assert_no_crash_logged,
    seconds_until,
    status_of,
    timed_status,
    token_entries,
    warm,
)
from tests.support.servers import LiveServer, app_env, serving
from tests.support.tenants import Tenant, make_tenant


async def rotate_and_wait(
    http: httpx.AsyncClient, via: LiveServer, other: LiveServer, tenant: Tenant, limit: float
) -> tuple[float, str]:
    """Warm `tenant` on `other`, rotate through `via`; the seconds until `other` refuses the old token."""
    assert await status_of(http, other, tenant.token) == 200
    body = (await admin_call(http, via, "POST", f"/admin/tenants/{tenant.slug}/rotate-token")).json()
    since = time.monotonic()
    assert await status_of(http, via, tenant.token) == 401, "the process that rotated refuses the old token at once"
    took = await seconds_until(http, other, tenant.token, expected=401, before=200, since=since, limit=limit)
    return took, body["token"]


async def test_redis_hung_killed_and_restarted(
    http: httpx.AsyncClient, own_valkey: OwnValkey, own_database: str, tmp_path: Path
) -> None:
    """Redis hung, killed, restarted: the service stays up and recovers by itself (R1).

    Hung then killed: tokens still resolve (cache, then registry), unknown ones get 401, nothing
    500s or hangs, and a rotation made meanwhile takes effect on the other process within the cache
    TTL. Restarted on the same port: both processes re-subscribe by themselves (a rotation reaches
    the other process within 1 s again) and the writes Redis missed are replayed (tombstones for the
    revoked hashes, records for the new tokens).
    """
    ttl = 2.0
    env = app_env(DATABASE_URL=own_database, REDIS_URL=own_valkey.url, TOKEN_CACHE_TTL_SECONDS=str(ttl))
    with serving(env, tmp_path / "A.log", name="A") as a, serving(env, tmp_path / "B.log", name="B") as b:
        x = await make_tenant(http, "r", a.base_url)  # rotated through A while Redis is down
        y = await make_tenant(http, "r", a.base_url)  # rotated through B while Redis is down
        hung = await make_tenant(http, "r", a.base_url)  # first used on B while Redis hangs
        unused = await make_tenant(http, "r", a.base_url)  # first used on B while Redis is dead
        for tenant in (x, y):
            await warm(http, [a, b], tenant.token)

        # Hung Redis (SIGSTOP): every Redis call times out (0.5 s), the registry answers instead.
        own_valkey.signal(signal.SIGSTOP)
        started = time.monotonic()
        assert await timed_status(http, b, "/items", x.token) == 200
        assert time.monotonic() - started < 0.9, "a cached token needs no Redis call (a miss costs 2 timeouts)"
        assert await timed_status(http, b, "/items", hung.token) == 200  # never seen on B: registry
        assert await timed_status(http, b, "/health") == 200

        # Dead Redis (SIGKILL).
        own_valkey.kill()
        for server in (a, b):
            assert await timed_status(http, server, "/health") == 200
            assert await timed_status(http, server, "/items", x.token) == 200  # in use: cache, else registry
            assert await timed_status(http, server, "/items", new_token()) == 401
        assert await timed_status(http, b, "/items", unused.token) == 200  # never used on B: registry

        # Revocations while Redis is dead: the other process's cache TTL bounds them.
        old_x, old_y = x.token, y.token
        _, new_x = await rotate_and_wait(http, a, b, x, limit=ttl + 1.0)
        _, new_y = await rotate_and_wait(http, b, a, y, limit=ttl + 1.0)
        for server in (a, b):
            assert await timed_status(http, server, "/items", new_x) == 200
            assert await timed_status(http, server, "/items", new_y) == 200
            assert await timed_status(http, server, "/items", old_x) == 401

        # Redis back on the same port: replay and re-subscription happen without any help.
        own_valkey.restart()
        restarted = time.monotonic()
        while (values := await token_entries(own_valkey.url, [old_x, old_y, new_x, new_y]))[:2] != [b"revoked"] * 2:
            assert time.monotonic() - restarted < 10.0, (
                f"tombstones written while Redis was down not replayed: {values}"
            )
            await asyncio.sleep(0.1)
        for record in await token_entries(own_valkey.url, [new_x, new_y]):
            assert record is not None, "records of the new tokens are replayed"
            assert record != b"revoked"

        # Both listeners are subscribed again: a rotation reaches the other process within 1 s.
        for via, other in ((a, b), (b, a)):
            while True:
                fresh = await make_tenant(http, "r", via.base_url)
                warmed = time.monotonic()
                took, _ = await rotate_and_wait(http, via, other, fresh, limit=ttl + 1.0)
                if took <= INVALIDATION_BOUND_SECONDS and time.monotonic() - warmed < ttl:
                    break  # refused before its cache entry could have expired: the invalidation did it
                assert time.monotonic() - restarted < 15.0, f"{other.name} never re-subscribed"
        for server in (a, b):
            assert_no_crash_logged(server)
