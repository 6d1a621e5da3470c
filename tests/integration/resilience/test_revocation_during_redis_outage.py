"""Revocations made while Redis is down or hung (R1, T5): never undone by Redis returning, bounded by the cache TTL.

A token revoked meanwhile (through the API or the CLI) is refused by every process once its cache
entry expires, and a Redis that comes back with stale data never revives it.
The processes use a Valkey and a database of this test's own.
"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import httpx

from tests.support.embedded import OwnValkey
from tests.support.probes import admin_call, assert_stays, seconds_until, status_of, token_entries, warm
from tests.support.processes import run_cli
from tests.support.servers import LiveServer, app_env, serving
from tests.support.tenants import make_tenant


async def test_a_token_revoked_while_redis_was_down_stays_dead_when_redis_returns(
    http: httpx.AsyncClient, own_valkey: OwnValkey, own_database: str, tmp_path: Path
) -> None:
    """A token revoked while Redis was down is never accepted again, even by a Redis that returns with old data.

    Redis comes back with its persisted data, which still holds the token's pre-outage record until
    the revoking process replays the tombstone; no process may accept the old token meanwhile (the
    revocation was acknowledged: "old token dead at once").
    """
    env = app_env(DATABASE_URL=own_database, REDIS_URL=own_valkey.url, TOKEN_CACHE_TTL_SECONDS="2")
    with serving(env, tmp_path / "A.log", name="A") as a, serving(env, tmp_path / "B.log", name="B") as b:
        x, y = await make_tenant(http, "r", a.base_url), await make_tenant(http, "r", a.base_url)
        await warm(http, [a, b], x.token, times=1)
        await warm(http, [a, b], y.token, times=1)
        own_valkey.kill()
        await admin_call(http, a, "POST", f"/admin/tenants/{x.slug}/rotate-token")  # A must replay this one
        await admin_call(http, b, "POST", f"/admin/tenants/{y.slug}/rotate-token")  # and B this one
        revoked = [x.token, y.token]
        since = time.monotonic()
        for server in (a, b):  # the process that did not rotate refuses once its cache entry expires
            for token in revoked:
                await seconds_until(http, server, token, expected=401, before=200, since=since, limit=3.0)

        tenant_of = {x.token: x.slug, y.token: y.slug}
        accepted: list[tuple[float, str]] = []
        stop = asyncio.Event()

        async def probe(server: LiveServer, token: str) -> None:
            while not stop.is_set():
                if (status := await status_of(http, server, token)) != 401:
                    accepted.append((time.monotonic(), f"{server.name}: {status} for revoked {tenant_of[token]}"))
                await asyncio.sleep(0.01)

        probes = [asyncio.create_task(probe(server, token)) for server in (a, b) for token in revoked]
        try:
            restarted = time.monotonic()
            await asyncio.to_thread(own_valkey.restart)
            while await token_entries(own_valkey.url, revoked) != [b"revoked"] * 2:
                assert time.monotonic() - restarted < 10.0, "tombstones never replayed"
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)  # and a little after the replay
        finally:
            stop.set()
            await asyncio.gather(*probes)
        assert not accepted, (
            f"{len(accepted)} answers accepted a revoked token, from {accepted[0][0] - restarted:+.2f}s to "
            f"{accepted[-1][0] - restarted:+.2f}s after Redis came back: {sorted({what for _, what in accepted})}"
        )


async def test_a_revocation_through_the_cli_while_redis_hangs_takes_effect_within_the_cache_ttl(
    http: httpx.AsyncClient, own_valkey: OwnValkey, own_database: str, tmp_path: Path
) -> None:
    """`app tenants rotate-token` / `delete` while Redis hangs still take effect within the cache TTL (R1, T5).

    The CLI is a process of its own that exits at once; once Redis answers again, a running server
    must refuse the old token (401) within TOKEN_CACHE_TTL_SECONDS plus slack, never serve it, never 500.
    """
    ttl = 2.0
    env = app_env(DATABASE_URL=own_database, REDIS_URL=own_valkey.url, TOKEN_CACHE_TTL_SECONDS=str(ttl))
    with serving(env, tmp_path / "A.log", name="A") as a:
        rotated, deleted = await make_tenant(http, "r", a.base_url), await make_tenant(http, "r", a.base_url)
        await warm(http, [a], rotated.token, times=1)
        await warm(http, [a], deleted.token, times=1)
        own_valkey.signal(signal.SIGSTOP)
        try:
            for args in (["rotate-token", rotated.slug], ["delete", deleted.slug, "--yes"]):
                done = await run_cli("tenants", *args, env=env)
                assert done.returncode == 0, done.stderr
        finally:
            own_valkey.signal(signal.SIGCONT)
        since = time.monotonic()
        for tenant in (rotated, deleted):
            await seconds_until(http, a, tenant.token, expected=401, before=200, since=since, limit=ttl + 1.0)
            await assert_stays(http, a, tenant.token, 401)
