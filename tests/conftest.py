"""Session-wide real servers (embedded PostgreSQL + Valkey), the app, and per-test tenants.

The servers start once per session in a throw-away directory; every test that needs data gets
its own tenant(s), so tests never share rows. Helpers live in tests/support; this file only
declares fixtures.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import asyncpg
import httpx
import pytest
from litestar import Litestar
from loguru import logger
from redis.asyncio import Redis

# Every request is traced in tests (spans are asserted on); set before the tracer provider exists.
# Subprocess servers inherit it. The shipped default records at most 10 new traces a second
# (app.telemetry.sampling).
os.environ.setdefault("OTEL_TRACES_SAMPLER", "parentbased_always_on")

from app.asgi import create_app
from app.embedded import start_postgres, start_valkey
from app.settings import Settings
from app.telemetry import set_up_process
from app.telemetry.logging import json_line
from tests.support.lifespan import migrate_shared_schema, running_lifespan
from tests.support.servers import LiveServer, app_env, serving
from tests.support.tenants import (
    ADMIN_HEADERS,
    ADMIN_KEY,
    MONITORING_PASSWORD,
    Tenant,
    make_tenant,
    wait_until_redis_trusted,
)


@pytest.fixture(scope="session")
def server_urls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Embedded PostgreSQL and Valkey for the whole session (stopped at interpreter exit)."""
    data_dir = tmp_path_factory.mktemp("servers")
    return {"DATABASE_URL": start_postgres(data_dir), "REDIS_URL": start_valkey(data_dir)}


@pytest.fixture(scope="session")
def settings(server_urls: dict[str, str]) -> Settings:
    """Settings of the in-process app under test."""
    return Settings(
        database_url=server_urls["DATABASE_URL"],
        redis_url=server_urls["REDIS_URL"],
        admin_api_key=ADMIN_KEY,
        monitoring_password=MONITORING_PASSWORD,
        db_pool_min_size=1,
        db_pool_max_size=4,
        log_level="WARNING",
    )


@pytest.fixture(scope="session")
def app(settings: Settings) -> Litestar:
    """The application, built by the same create_app the servers use, in a process set up as theirs are.

    Its `state` (resolver, tenant service, health monitor) exists once `client` has started it.
    """
    set_up_process(settings)
    return create_app(settings)


@pytest.fixture(scope="session")
async def client(app: Litestar, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the started app, in the test's event loop (lifespan run once: pool, Redis).

    As with `app run`, the shared schema is migrated before the app starts, and the client is
    handed out once the invalidation listener has subscribed and drained the outbox. Litestar's
    AsyncTestClient runs the lifespan in a portal thread with its own loop; the asyncpg pool would
    then belong to another loop than the tests, so we drive ASGI directly.
    """
    await migrate_shared_schema(settings)
    async with running_lifespan(app):
        await wait_until_redis_trusted(app)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


@pytest.fixture
async def trusted_redis(app: Litestar, client: httpx.AsyncClient) -> None:
    """Wait until the app reads Redis again (another test's outbox rows or a Redis error may have paused it)."""
    await wait_until_redis_trusted(app)


@pytest.fixture
def admin_headers() -> dict[str, str]:
    """Headers authenticating as the operator."""
    return dict(ADMIN_HEADERS)


@pytest.fixture
async def tenant(client: httpx.AsyncClient) -> Tenant:
    """A fresh tenant for this test."""
    return await make_tenant(client)


@pytest.fixture
async def other_tenant(client: httpx.AsyncClient) -> Tenant:
    """A second fresh tenant, for isolation checks."""
    return await make_tenant(client, prefix="o")


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    """A Redis client on the session's server, for inspecting what the service stored."""
    connection = Redis.from_url(settings.redis_url)
    yield connection
    await connection.aclose()


@pytest.fixture
async def pg(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    """A direct PostgreSQL connection, for inspecting the registry and schemas."""
    connection = await asyncpg.connect(settings.database_url)
    yield connection
    await connection.close()


@pytest.fixture(scope="session")
def live_server(server_urls: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """`python -m app run` on a free port with a pool of at most 4 connections."""
    with serving(app_env(**server_urls), tmp_path_factory.mktemp("live") / "server.log") as server:
        yield server


@pytest.fixture
def captured() -> Iterator[list[str]]:
    """Lines loguru formats with our JSON formatter, at every level."""
    lines: list[str] = []
    sink = logger.add(lines.append, format=json_line, level="DEBUG")
    yield lines
    logger.remove(sink)
