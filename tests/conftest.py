"""Session-wide real servers (embedded PostgreSQL + Valkey), the app, and per-test tenants.

The servers start once per session in a throw-away directory; every test that needs data gets
its own tenant(s), so tests never share rows.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest
from litestar import Litestar
from redis.asyncio import Redis

# Every request is traced in tests (spans are asserted on); set before the tracer provider exists.
# Subprocess servers inherit it. The shipped default records at most 10 new traces a second
# (app.telemetry.sampling).
os.environ.setdefault("OTEL_TRACES_SAMPLER", "parentbased_always_on")

from app.asgi import create_app
from app.telemetry import set_up_process
from app.embedded import start_postgres, start_valkey
from app.settings import Settings
from app.tenants.fleet.schema import migrate_shared

ADMIN_KEY = "test-admin-key-0123456789abcdef"
_slugs = itertools.count()


@dataclass(frozen=True)
class Tenant:
    """A tenant made for one test: its slug and its token."""

    slug: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        """Headers authenticating as this tenant."""
        return {"X-TOKEN": self.token}


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
        db_pool_min_size=1,
        db_pool_max_size=4,
        log_level="WARNING",
    )


@pytest.fixture(scope="session")
def app(settings: Settings) -> Litestar:
    """The application, built by the same create_app the servers use, in a process set up as theirs are."""
    set_up_process(settings)
    return create_app(settings)


@pytest.fixture(scope="session")
async def client(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the app, in the test's event loop (lifespan run once: pool, Redis).

    Litestar's AsyncTestClient runs the lifespan in a portal thread with its own loop; the
    asyncpg pool would then belong to another loop than the tests, so we drive ASGI directly.
    """
    async with running_lifespan(app):
        await migrate_shared()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


@asynccontextmanager
async def running_lifespan(app: Litestar) -> AsyncIterator[None]:
    """Run the app's lifespan in a task of its own (anyio scopes must exit in the task they began in)."""
    started, stop = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        async with app.lifespan():
            started.set()
            await stop.wait()

    task = asyncio.create_task(hold())
    waiter = asyncio.create_task(started.wait())
    await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        waiter.cancel()
        task.result()  # start-up failed: raise its error
    try:
        yield
    finally:
        stop.set()
        await task


@pytest.fixture
def admin_headers() -> dict[str, str]:
    """Headers authenticating as the operator."""
    return {"X-ADMIN-KEY": ADMIN_KEY}


def unique_slug(prefix: str = "t") -> str:
    """A slug no other test in this session uses."""
    return f"{prefix}{os.getpid()}_{next(_slugs)}"


async def make_tenant(client: httpx.AsyncClient, prefix: str = "t") -> Tenant:
    """Create a tenant through the admin API and return its slug and token."""
    response = await client.post(
        "/admin/tenants", json={"slug": unique_slug(prefix)}, headers={"X-ADMIN-KEY": ADMIN_KEY}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return Tenant(slug=body["tenant"]["slug"], token=body["token"])


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


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(url: str, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """Poll `url` until it answers, failing early if `process` died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not come up within {timeout}s")


def stop_process(process: subprocess.Popen[bytes], grace_seconds: float = 15.0) -> None:
    """SIGTERM `process`, and SIGKILL it if it is still running after `grace_seconds`."""
    process.terminate()
    try:
        process.wait(timeout=grace_seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass(frozen=True)
class LiveServer:
    """A real `app run` process (uvicorn) serving on `base_url`."""

    base_url: str
    process: subprocess.Popen[bytes]


@contextmanager
def serving(server_urls: dict[str, str], log_path: Path, *args: str, **env: str) -> Iterator[LiveServer]:
    """`python -m app run [args]` on a free port with `env` added; stopped (SIGTERM) on exit."""
    port = free_port()
    environ = {**os.environ, **server_urls, "ADMIN_API_KEY": ADMIN_KEY, "DB_POOL_MAX_SIZE": "4",
               "DB_POOL_MIN_SIZE": "1", "LOG_LEVEL": "WARNING", **env}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "app", "run", "--host", "127.0.0.1", "--port", str(port), *args],
            env=environ,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base_url = f"http://127.0.0.1:{port}"
        try:
            wait_until_up(base_url + "/health", process)
            yield LiveServer(base_url=base_url, process=process)
        finally:
            stop_process(process)


@pytest.fixture(scope="session")
def live_server(server_urls: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """`python -m app run` on a free port with a pool of at most 4 connections."""
    with serving(server_urls, tmp_path_factory.mktemp("live") / "server.log") as server:
        yield server
