"""Start-up checks of `app run`: fail fast, with a clear message, when a dependency is unreachable."""

from __future__ import annotations

import asyncio

import asyncpg
from redis.exceptions import RedisError

from app import db
from app.settings import Settings
from app.telemetry import tracing_problems
from app.tenants import connect_redis
from app.tenants.fleet import migrate_shared

PREFLIGHT_TIMEOUT_SECONDS = 5.0


async def preflight(settings: Settings) -> list[str]:
    """Check the tracing set-up, PostgreSQL (and migrate the shared schema) and Redis; return what is wrong."""
    problems = tracing_problems()
    try:
        await asyncio.wait_for(_check_postgres(settings), PREFLIGHT_TIMEOUT_SECONDS)
    except db.UnsafeSearchPath as exc:
        problems.append(f"PostgreSQL at DATABASE_URL is not safe to serve from: {exc}")
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError, ValueError) as exc:
        problems.append(f"PostgreSQL at DATABASE_URL is unreachable: {type(exc).__name__}: {exc}")
    try:
        await _check_redis(settings)
    except (RedisError, ValueError) as exc:
        problems.append(f"Redis at REDIS_URL is unreachable: {type(exc).__name__}: {exc}")
    return problems


async def _check_redis(settings: Settings) -> None:
    redis = connect_redis(settings.redis_url, PREFLIGHT_TIMEOUT_SECONDS)
    try:
        await redis.ping()
    finally:
        await redis.aclose()


async def _check_postgres(settings: Settings) -> None:
    """Open a pool (which sets and checks the fail-closed search_path) and migrate the shared schema."""
    await db.start_pool(settings)
    try:
        await migrate_shared()
    finally:
        await db.stop_pool()
