"""Probing running `app run` processes over HTTP (and their Redis), with polls and deadlines, never sleeps."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from redis.asyncio import Redis

from app.tenants.tokens import hash_token, redis_key
from tests.support.records import payload
from tests.support.servers import LiveServer
from tests.support.tenants import ADMIN_HEADERS

POLL_SECONDS = 0.05
INVALIDATION_BOUND_SECONDS = 1.0
"""How long another process may keep accepting a revoked token while Redis is up."""
FAST_SECONDS = 3.0
"""How long any request may take while a dependency is down or restarting."""


async def admin_call(http: httpx.AsyncClient, server: LiveServer, method: str, path: str) -> httpx.Response:
    """An admin call on `server` that must succeed (2xx)."""
    response = await http.request(method, server.url(path), headers=ADMIN_HEADERS)
    assert response.is_success, f"{method} {path} on {server.name}: {response.status_code} {response.text}"
    return response


async def status_of(http: httpx.AsyncClient, server: LiveServer, token: str, path: str = "/items") -> int:
    """The status `server` answers to GET `path` with `token`; a 500 always fails the test."""
    response = await http.get(server.url(path), headers={"X-TOKEN": token})
    assert response.status_code != 500, response.text
    return response.status_code


async def timed_status(http: httpx.AsyncClient, server: LiveServer, path: str, token: str | None = None) -> int:
    """GET `path` on `server`: never a 500, always within FAST_SECONDS."""
    started = time.monotonic()
    headers = {"X-TOKEN": token} if token else {}
    response = await http.get(server.url(path), headers=headers)
    took = time.monotonic() - started
    assert response.status_code != 500, response.text
    assert took < FAST_SECONDS, f"GET {path} on {server.name} took {took:.2f}s"
    return response.status_code


async def warm(http: httpx.AsyncClient, servers: list[LiveServer], token: str, times: int = 3) -> None:
    """Use `token` on every server until each has it in its in-process cache."""
    for server in servers:
        for _ in range(times):
            assert await status_of(http, server, token) == 200


async def seconds_until(
    http: httpx.AsyncClient,
    server: LiveServer,
    token: str,
    *,
    expected: int,
    before: int,
    since: float,
    limit: float,
) -> float:
    """Poll `server` every 50 ms; the seconds from `since` until it answers `expected`.

    Until then it may only answer `before`; if `expected` comes later than `limit` seconds, the test fails.
    """
    while True:
        status = await status_of(http, server, token)
        elapsed = time.monotonic() - since
        if status == expected and elapsed <= limit:
            return elapsed
        assert status == before, f"{server.name} answered {status} (expected {before}, then {expected})"
        if elapsed > limit:
            pytest.fail(f"{server.name} still answered {status} {elapsed:.2f}s after the change (limit {limit}s)")
        await asyncio.sleep(POLL_SECONDS)


async def assert_stays(http: httpx.AsyncClient, server: LiveServer, token: str, status: int, times: int = 5) -> None:
    """`server` keeps answering `status` for `token` (no flapping back)."""
    for _ in range(times):
        assert await status_of(http, server, token) == status
        await asyncio.sleep(POLL_SECONDS)


def assert_no_crash_logged(server: LiveServer) -> None:
    """No request crashed in `server`: no unhandled error (a 500) and no exception escaping the app.

    (asyncpg's own pool maintenance may log a warning with a traceback while PostgreSQL is down;
    that is a library log line, not a failed request, so it is not checked here.)
    """
    log = server.log()
    assert "unhandled error" not in log, log
    assert "Exception in ASGI application" not in log, log


async def redis_value(url: str, key: str) -> bytes | None:
    """GET `key` on the Redis at `url` with a fresh connection."""
    client = Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
    try:
        value = await client.get(key)
        assert value is None or isinstance(value, bytes)
        return value
    finally:
        await client.aclose()


async def token_entries(url: str, tokens: list[str]) -> list[bytes | None]:
    """What the Redis at `url` holds for each token: the payload of its sealed value (record or `revoked`), or None."""
    return [payload(await redis_value(url, redis_key(hash_token(token)))) for token in tokens]
