"""Graceful shutdown of `app run` (R4): in-flight requests finish, new connections are refused."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.support.probes import POLL_SECONDS, assert_no_crash_logged, status_of
from tests.support.servers import LiveServer, app_env, serving
from tests.support.tenants import make_tenant


async def test_graceful_shutdown_drains_in_flight_requests_and_refuses_new_ones(
    http: httpx.AsyncClient, server_urls: dict[str, str], tmp_path: Path
) -> None:
    """Graceful shutdown drains: on SIGTERM new connections are refused, the in-flight request finishes.

    A GET /items is blocked on a table lock when SIGTERM arrives: the server stops accepting
    connections at once, the blocked request still completes with 200 once the lock is released,
    and only then does the process exit.
    """
    env = app_env(**server_urls)
    with serving(env, tmp_path / "drain.log", name="drain") as server:
        created = await make_tenant(http, "g", server.base_url)
        schema, token = created.schema, created.token
        assert await status_of(http, server, token) == 200

        locker = await asyncpg.connect(server_urls["DATABASE_URL"])
        try:
            lock = locker.transaction()
            await lock.start()
            await locker.execute(f'LOCK TABLE "{schema}".item IN ACCESS EXCLUSIVE MODE')
            async with httpx.AsyncClient(timeout=httpx.Timeout(30.0)) as slow:
                in_flight = asyncio.create_task(slow.get(server.url("/items"), headers={"X-TOKEN": token}))
                await wait_for_lock_waiter(locker, schema, in_flight)

                os.kill(server.process.pid, signal.SIGTERM)
                await wait_until_refused(server)
                assert not in_flight.done(), "the in-flight request ended before its lock was released"
                assert server.process.poll() is None, "the server exited without draining"

                await lock.rollback()
                response = await asyncio.wait_for(in_flight, 10)
            assert response.status_code == 200, response.text
            assert response.json()["items"] == []
        finally:
            await locker.close()
        returncode = await asyncio.to_thread(server.process.wait, 15)
        assert returncode in (0, -signal.SIGTERM), server.log()
        assert_no_crash_logged(server)


async def wait_for_lock_waiter(locker: asyncpg.Connection, schema: str, request: asyncio.Task[object]) -> None:
    """Wait until some backend waits for a lock on `schema`.item (the request is in flight)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        assert not request.done(), f"the request was not blocked: {request.result()}"
        waiting = await locker.fetchval(
            "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE NOT l.granted AND n.nspname = $1 AND c.relname = 'item'",
            schema,
        )
        if waiting:
            return
        await asyncio.sleep(POLL_SECONDS)
    pytest.fail("the request never waited for the lock")


async def wait_until_refused(server: LiveServer, limit: float = 3.0) -> None:
    """Poll with NEW connections until the server refuses them (it stopped listening)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        async with httpx.AsyncClient(timeout=httpx.Timeout(1.0)) as fresh:
            try:
                await fresh.get(server.url("/health"))
            except httpx.TransportError:
                return
        await asyncio.sleep(POLL_SECONDS)
    pytest.fail(f"{server.name} still accepted new connections {limit}s after SIGTERM")
