"""Behind PgBouncer in transaction mode (R1, R2, T3): the service starts, isolates, migrates and fails closed.

A private PgBouncer 1.18 (Debian `pgbouncer`, stock settings: no `ignore_startup_parameters`) in
transaction mode, with fewer server connections (3) than the app's pool (4), forwards to a database
of this module's own on the session's PostgreSQL; `app run` reaches PostgreSQL only through it,
with DB_STATEMENT_CACHE_SIZE=0. Every client connection hops between server connections, so any
state the service kept on a connection instead of in its transaction would show here.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import suppress
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest

from app.circuit import Circuit
from app.db import FAIL_CLOSED_SEARCH_PATH, PIN_SEARCH_PATH
from app.monitoring import checks
from tests.support.isolation import assert_isolated_under_load
from tests.support.pgbouncer import PGBOUNCER, SKIP_REASON, PgBouncer, pgbouncer
from tests.support.processes import run_python
from tests.support.servers import LiveServer, app_env, serving
from tests.support.tenants import ADMIN_HEADERS, make_tenant, unique_slug

pytestmark = [pytest.mark.slow, pytest.mark.skipif(PGBOUNCER is None, reason=SKIP_REASON)]

SERVER_CONNECTIONS = 3
"""PgBouncer's server connections per database: fewer than the app's pool, so client connections hop."""


async def _execute(dsn: str, sql: str) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@pytest.fixture(scope="module")
async def pooled_database(server_urls: dict[str, str]) -> AsyncIterator[str]:
    """A database of this module's own (direct DSN), its role's fail-closed default already set.

    Set directly, before PgBouncer opens any server connection: a server connection that began
    earlier keeps the old default (that case is `app run`'s refusal, see the README).
    """
    name = f"pooler_{unique_slug('db')}"
    await _execute(server_urls["DATABASE_URL"], f'CREATE DATABASE "{name}"')
    dsn = urlsplit(server_urls["DATABASE_URL"])._replace(path=f"/{name}").geturl()
    await _execute(dsn, PIN_SEARCH_PATH)
    try:
        yield dsn
    finally:
        with suppress(asyncpg.PostgresError):
            await _execute(server_urls["DATABASE_URL"], f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def bouncer(pooled_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgBouncer]:
    """A private PgBouncer in transaction mode in front of the module's database."""
    with pgbouncer(pooled_database, tmp_path_factory.mktemp("pgbouncer"), pool_size=SERVER_CONNECTIONS) as running:
        yield running


@pytest.fixture(scope="module")
def pooled_url(bouncer: PgBouncer, pooled_database: str) -> str:
    """The module's database through the pooler."""
    return bouncer.url(pooled_database)


@pytest.fixture(scope="module")
def pooled_env(pooled_url: str, server_urls: dict[str, str]) -> dict[str, str]:
    """The environment of processes going through the pooler (a Redis database of their own, cache off)."""
    redis = urlsplit(server_urls["REDIS_URL"])._replace(path="/3").geturl()
    return app_env(DATABASE_URL=pooled_url, REDIS_URL=redis, DB_STATEMENT_CACHE_SIZE="0")


@pytest.fixture(scope="module")
def pooled_app(pooled_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """`app run` (pool of at most 4) whose DATABASE_URL is the pooler."""
    with serving(pooled_env, tmp_path_factory.mktemp("pooled-app") / "app.log", name="pooled") as server:
        yield server


@pytest.fixture
async def direct(pooled_database: str) -> AsyncIterator[asyncpg.Connection]:
    """A direct connection to the module's database, bypassing pooler and service."""
    connection = await asyncpg.connect(pooled_database)
    yield connection
    await connection.close()


async def test_app_run_starts_through_the_pooler_with_stock_config(pooled_app: LiveServer, bouncer: PgBouncer) -> None:
    """`app run` starts through a stock PgBouncer (no connect-time parameter refused) and is ready."""
    assert "ignore_startup_parameters" not in (bouncer.directory / "pgbouncer.ini").read_text()
    async with httpx.AsyncClient(timeout=10) as http:
        ready = await http.get(pooled_app.url("/health/ready"))
    assert ready.status_code == 200, ready.text
    assert "unsupported startup parameter" not in pooled_app.log() + bouncer.log()


async def test_isolation_holds_through_the_pooler(pooled_app: LiveServer, direct: asyncpg.Connection) -> None:
    """3,000 shuffled requests over 12 tenants, app pool of 4 over 3 server connections: 0 foreign rows, 0 5xx."""
    try:
        await assert_isolated_under_load(pooled_app.base_url, direct, tenants=12, requests=3_000)
    except (AssertionError, httpx.HTTPError) as exc:  # with what the server logged, to tell why
        raise AssertionError(f"{type(exc).__name__}: {exc}\n--- app log ---\n{pooled_app.log()[-4000:]}") from exc
    assert "prepared statement" not in pooled_app.log()


async def test_lifecycle_through_the_pooler(pooled_app: LiveServer, direct: asyncpg.Connection) -> None:
    """Create, suspend (403), resume, rotate (old token 401 at once) and delete (schema gone) through the pooler."""
    async with httpx.AsyncClient(base_url=pooled_app.base_url, timeout=10) as http:
        tenant = await make_tenant(http, prefix="pgb")
        assert (await http.post("/items", json={"title": "kept"}, headers=tenant.headers)).status_code == 201
        admin = f"/admin/tenants/{tenant.slug}"
        assert (await http.post(f"{admin}/suspend", headers=ADMIN_HEADERS)).json()["status"] == "suspended"
        assert (await http.get("/items", headers=tenant.headers)).status_code == 403
        assert (await http.post(f"{admin}/resume", headers=ADMIN_HEADERS)).json()["status"] == "active"
        assert (await http.get("/items", headers=tenant.headers)).status_code == 200
        rotated = await http.post(f"{admin}/rotate-token", headers=ADMIN_HEADERS)
        new_headers = {"X-TOKEN": rotated.json()["token"]}
        assert (await http.get("/items", headers=tenant.headers)).status_code == 401
        assert (await http.get("/items", headers=new_headers)).json()["total"] == 1
        assert (await http.delete(admin, headers=ADMIN_HEADERS)).status_code == 204
        assert (await http.get("/items", headers=new_headers)).status_code == 401
    assert await direct.fetchval("SELECT to_regnamespace($1)", tenant.schema) is None
    assert await direct.fetchval("SELECT count(*) FROM cobreja.tenant WHERE slug = $1", tenant.slug) == 0


async def test_fleet_runner_through_the_pooler(pooled_app: LiveServer, pooled_env: dict[str, str]) -> None:
    """`python -m app.migrate_tenants` runs through the pooler (shared schema, template, every tenant): exit 0."""
    async with httpx.AsyncClient(base_url=pooled_app.base_url, timeout=10) as http:
        for _ in range(3):
            await make_tenant(http, prefix="pgbf")
    result = await run_python("-m", "app.migrate_tenants", "--jobs", "4", "--json", env=pooled_env)
    assert result.returncode == 0, result.stderr
    summary = result.json()
    assert summary["ok"] is True, summary
    assert summary["tenants"]["total"] >= 3
    assert summary["tenants"]["failed"] == 0
    check = await run_python("-m", "app.migrate_tenants", "--check", "--json", env=pooled_env)
    assert check.returncode == 0, check.stderr


async def test_unqualified_queries_fail_closed_through_the_pooler(pooled_app: LiveServer, pooled_url: str) -> None:
    """Outside a tenant transaction, through the pooler, nothing unqualified resolves (search_path = pg_catalog).

    On each of several client connections (landing on the pooler's different server connections),
    `tenant` is unknown while `cobreja.tenant` is found: the role's default holds where a
    connect-time setting would have been refused.
    """
    connections = [await asyncpg.connect(pooled_url, statement_cache_size=0) for _ in range(SERVER_CONNECTIONS + 1)]
    try:
        for connection in connections:
            assert await connection.fetchval("SHOW search_path") == FAIL_CLOSED_SEARCH_PATH
            with pytest.raises(asyncpg.UndefinedTableError):
                await connection.fetchval("SELECT count(*) FROM tenant")
            assert await connection.fetchval("SELECT count(*) FROM cobreja.tenant") >= 0
    finally:
        for connection in connections:
            await connection.close()


async def test_ready_fails_with_a_statement_cache_behind_the_pooler(
    pooled_app: LiveServer, pooled_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The readiness check is `down` through a transaction pooler when asyncpg's statement cache is on, `up` when off.

    The check (app.monitoring.checks) runs a prepared statement in two transactions with another
    connection's transaction in between: with a cache, the second one asks a server connection
    for a statement prepared on another (the failure that gave 500s behind PgBouncer).
    """
    monkeypatch.setattr(checks, "CIRCUIT", Circuit(asyncio.sleep))  # this test's verdicts stay its own
    for cache, expected in ((100, "down"), (0, "up")):
        arguments = {"dsn": pooled_url, "timeout": 2.0, "statement_cache_size": cache}
        monkeypatch.setattr(checks, "connect_arguments", lambda arguments=arguments: dict(arguments))
        result = await checks.check_database()
        assert result.status == expected, (cache, result)
        if expected == "down":
            assert result.error == "InvalidSQLStatementNameError", result


async def test_app_run_with_a_statement_cache_behind_the_pooler_is_not_ready(
    pooled_env: dict[str, str], tmp_path: Path
) -> None:
    """`app run` with DB_STATEMENT_CACHE_SIZE=100 through the transaction pooler: /health/ready says 503."""
    env = {**pooled_env, "DB_STATEMENT_CACHE_SIZE": "100"}
    with serving(env, tmp_path / "cached.log", name="cached") as server:
        async with httpx.AsyncClient(timeout=10) as http:
            ready = await http.get(server.url("/health/ready"))
    assert ready.status_code == 503, ready.text
    assert "InvalidSQLStatementNameError" in ready.json()["detail"]


async def test_a_pooler_holding_connections_older_than_the_default_stops_app_run_until_reconnect(
    server_urls: dict[str, str], tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """On a new database behind a pooler that already holds a server connection, `app run` refuses, then starts.

    `app run` sets the role's fail-closed default itself, but the pooler's older server connection
    keeps the previous one (`"$user", public`): the start-up check sees that and exits 1 naming
    RECONNECT, instead of serving with a search_path that does not fail closed. After RECONNECT
    on PgBouncer's console, the same command starts and its connections show `pg_catalog`.
    """
    name = f"pooler_{unique_slug('new')}"
    await _execute(server_urls["DATABASE_URL"], f'CREATE DATABASE "{name}"')
    direct_dsn = urlsplit(server_urls["DATABASE_URL"])._replace(path=f"/{name}").geturl()
    try:
        with pgbouncer(direct_dsn, tmp_path_factory.mktemp("pgbouncer-new"), pool_size=2) as fresh:
            url = fresh.url(direct_dsn)
            early = await asyncpg.connect(url, statement_cache_size=0)
            assert await early.fetchval("SHOW search_path") != FAIL_CLOSED_SEARCH_PATH  # opens the server connection
            await early.close()
            redis = urlsplit(server_urls["REDIS_URL"])._replace(path="/4").geturl()
            env = app_env(DATABASE_URL=url, REDIS_URL=redis, DB_STATEMENT_CACHE_SIZE="0")
            refused = await run_python("-m", "app", "run", "--port", "1", env=env, time_limit=30)
            assert refused.returncode == 1, refused
            assert "RECONNECT" in refused.stderr, refused.stderr
            assert "Traceback" not in refused.stderr
            await asyncio.to_thread(fresh.admin, "RECONNECT")
            with serving(env, tmp_path / "app.log", name="reconnected") as server:
                async with httpx.AsyncClient(timeout=10) as http:
                    assert (await http.get(server.url("/health/ready"))).status_code == 200
            later = await asyncpg.connect(url, statement_cache_size=0)
            assert await later.fetchval("SHOW search_path") == FAIL_CLOSED_SEARCH_PATH
            await later.close()
    finally:
        with suppress(asyncpg.PostgresError):
            await _execute(server_urls["DATABASE_URL"], f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
