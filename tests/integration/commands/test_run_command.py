"""`app run` (the production server) fails fast and clearly on bad configuration, and serves on good.

Every case is a real `python -m app run` subprocess. Unreachable dependencies are a closed port
(connection refused) or a local listener that accepts and never answers (a hang): both must end
the process with a non-zero exit, a clear `error: ...` line and no traceback, well within 10 s.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from tests.support.processes import Completed, clean_env, finish, free_port, run_cli, spawn_python
from tests.support.servers import app_env, serving
from tests.support.tenants import ADMIN_KEY

REQUIRED = ("DATABASE_URL", "REDIS_URL", "ADMIN_API_KEY")
UNREACHABLE_POSTGRES = "postgresql://postgres:pg-secret-pw@127.0.0.1:1/postgres"
UNREACHABLE_REDIS = "redis://:redis-secret-pw@127.0.0.1:1/0"
FAIL_FAST_SECONDS = 10.0


async def run_app(env: dict[str, str], cwd: Path, limit_seconds: float = 30.0) -> Completed:
    """Run `python -m app run` on a free port until it exits by itself (killed after `limit_seconds`)."""
    return await run_cli("run", "--host", "127.0.0.1", "--port", str(free_port()), env=env, cwd=cwd,
                         time_limit=limit_seconds)


def error_lines(result: Completed) -> list[str]:
    """The `error: ...` lines on stderr, after checking there is no traceback."""
    assert "Traceback" not in result.stderr, result.stderr
    return [line for line in result.stderr.splitlines() if line.startswith("error: ")]


@asynccontextmanager
async def silent_listener() -> AsyncIterator[int]:
    """A loopback TCP port that accepts connections and never says a word (a hung server)."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize(
    ("present", "missing"),
    [
        ((), REQUIRED),
        (("DATABASE_URL", "REDIS_URL"), ("ADMIN_API_KEY",)),
        (("REDIS_URL", "ADMIN_API_KEY"), ("DATABASE_URL",)),
    ],
    ids=["nothing-set", "no-admin-key", "no-database-url"],
)
async def test_missing_variables_are_named(
    present: tuple[str, ...], missing: tuple[str, ...], server_urls: dict[str, str], tmp_path: Path
) -> None:
    """Without DATABASE_URL / REDIS_URL / ADMIN_API_KEY, `app run` exits non-zero at once naming exactly those."""
    known = {**server_urls, "ADMIN_API_KEY": ADMIN_KEY}
    result = await run_app({**clean_env(), **{name: known[name] for name in present}}, tmp_path)
    assert result.returncode != 0
    lines = error_lines(result)
    assert len(lines) == 1, result.stderr
    for name in REQUIRED:
        assert (name in lines[0]) == (name in missing), lines[0]
    assert "app dev" in lines[0], "the message points to the zero-config alternative"
    assert result.seconds < FAIL_FAST_SECONDS
    assert not (tmp_path / ".cobreja").exists(), "`app run` never starts embedded servers"


@pytest.mark.parametrize("kind", ["refused", "silent"])
async def test_unreachable_postgres_fails_fast_and_clearly(
    kind: str, server_urls: dict[str, str], tmp_path: Path
) -> None:
    """PostgreSQL refusing or never answering: exit 1 within 10 s, `PostgreSQL ... unreachable`, no password."""
    async with silent_listener() as port:
        dsn = UNREACHABLE_POSTGRES if kind == "refused" else f"postgresql://postgres:pg-secret-pw@127.0.0.1:{port}/x"
        env = {**clean_env(), "DATABASE_URL": dsn, "REDIS_URL": server_urls["REDIS_URL"], "ADMIN_API_KEY": ADMIN_KEY}
        result = await run_app(env, tmp_path)
    assert result.returncode == 1, result
    lines = error_lines(result)
    assert len(lines) == 1, result.stderr
    assert "PostgreSQL" in lines[0]
    assert "unreachable" in lines[0]
    assert "DATABASE_URL" in lines[0]
    assert "pg-secret-pw" not in result.stderr + result.stdout
    assert result.seconds < FAIL_FAST_SECONDS, f"took {result.seconds:.1f}s"


@pytest.mark.parametrize("kind", ["refused", "silent"])
async def test_unreachable_redis_fails_fast_and_clearly(kind: str, server_urls: dict[str, str], tmp_path: Path) -> None:
    """Redis refusing or never answering: exit 1 within 10 s, `Redis ... unreachable`, no password leaked."""
    async with silent_listener() as port:
        url = UNREACHABLE_REDIS if kind == "refused" else f"redis://:redis-secret-pw@127.0.0.1:{port}/0"
        env = {**clean_env(), "DATABASE_URL": server_urls["DATABASE_URL"], "REDIS_URL": url, "ADMIN_API_KEY": ADMIN_KEY}
        result = await run_app(env, tmp_path)
    assert result.returncode == 1, result
    lines = error_lines(result)
    assert len(lines) == 1, result.stderr
    assert "Redis" in lines[0]
    assert "unreachable" in lines[0]
    assert "REDIS_URL" in lines[0]
    assert "redis-secret-pw" not in result.stderr + result.stdout
    assert result.seconds < FAIL_FAST_SECONDS, f"took {result.seconds:.1f}s"


@pytest.mark.parametrize(("name", "value"), [("ADMIN_API_KEY", "k"), ("ADMIN_API_KEY", "short-key-15chr"),
                                            ("MONITORING_PASSWORD", "pw"), ("METRICS_TOKEN", "tok")])
async def test_weak_secrets_are_refused(server_urls: dict[str, str], tmp_path: Path, name: str, value: str) -> None:
    """`app run` refuses (exit 2, one line naming the variable and the minimum) a secret shorter than 16 characters."""
    env = {**clean_env(), **server_urls, "ADMIN_API_KEY": ADMIN_KEY, name: value}
    result = await run_app(env, tmp_path)
    assert result.returncode == 2, result
    lines = error_lines(result)
    assert len(lines) == 1, result.stderr
    assert name in lines[0]
    assert "16 characters" in lines[0]
    if len(value) > 8:  # a short value occurs in ordinary words; a long one must not be echoed
        assert value not in result.stderr


async def test_both_unreachable_are_both_reported(tmp_path: Path) -> None:
    """With PostgreSQL and Redis both down, one run reports both problems (no fix-one-rerun loop)."""
    env = {**clean_env(), "DATABASE_URL": UNREACHABLE_POSTGRES, "REDIS_URL": UNREACHABLE_REDIS,
           "ADMIN_API_KEY": ADMIN_KEY}
    result = await run_app(env, tmp_path)
    assert result.returncode == 1
    lines = error_lines(result)
    assert len(lines) == 2, result.stderr
    assert "PostgreSQL" in lines[0]
    assert "Redis" in lines[1]
    assert result.seconds < FAIL_FAST_SECONDS


async def test_run_serves_with_its_admin_key_and_stops_on_sigterm(server_urls: dict[str, str], tmp_path: Path) -> None:
    """With valid configuration `app run` serves, honours ADMIN_API_KEY, and stops promptly on SIGTERM.

    uvicorn shuts down gracefully, then re-raises the signal, so the exit status is 0 or -SIGTERM
    (143 in a shell), the conventional "terminated by SIGTERM"; either way without a traceback.
    """
    port = free_port()
    env = {**clean_env(), **server_urls, "ADMIN_API_KEY": ADMIN_KEY, "LOG_LEVEL": "WARNING", "DB_POOL_MAX_SIZE": "2"}
    process = await spawn_python("-m", "app", "run", "--host", "127.0.0.1", "--port", str(port), env=env, cwd=tmp_path)
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=2.0) as http:
            deadline = time.monotonic() + 30
            while True:
                assert process.returncode is None, "server exited early"
                assert time.monotonic() < deadline, "server did not come up within 30 s"
                try:
                    health = await http.get("/health")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            assert health.status_code == 200
            assert (await http.get("/admin/tenants", headers={"X-ADMIN-KEY": ADMIN_KEY})).status_code == 200
            assert (await http.get("/admin/tenants", headers={"X-ADMIN-KEY": "wrong"})).status_code == 401
        process.send_signal(signal.SIGTERM)
        stopped = await finish(process, 15)
        assert stopped.returncode in (0, -signal.SIGTERM), stopped.stdout + stopped.stderr
        assert "Traceback" not in stopped.stdout + stopped.stderr
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert not (tmp_path / ".cobreja").exists()


@pytest.mark.parametrize("workers", [1, 2])
def test_run_says_where_it_listens_once(server_urls: dict[str, str], tmp_path: Path, workers: int) -> None:
    """`app run` prints one `listening on http://HOST:PORT (N worker[s])` line on stderr once bound (not per worker)."""
    with serving(app_env(**server_urls), tmp_path / "server.log", "--workers", str(workers)) as server:
        assert httpx.get(server.url("/health")).status_code == 200
        lines = [line for line in server.log().splitlines() if line.startswith("listening on ")]
    noun = "worker" if workers == 1 else "workers"
    assert lines == [f"listening on {server.base_url} ({workers} {noun}); stop with Ctrl+C or SIGTERM"]
