"""Benchmark data: the databases, the `bench` tenant and its items (through the app's own layers)."""

from __future__ import annotations

import asyncio
import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from processes import BenchError

TENANT = "bench"
SCHEMA = "tenant_bench"
ITEM_COUNT = 20


def database_urls(scratch: Path) -> tuple[str, str, str]:
    """(DATABASE_URL, REDIS_URL, origin): the environment's, else embedded servers under `scratch`.

    The embedded servers stop when this process exits (see app.embedded).
    """
    from app.embedded import start_postgres, start_valkey

    given_db, given_redis = os.environ.get("DATABASE_URL"), os.environ.get("REDIS_URL")
    database_url = given_db or start_postgres(scratch)
    redis_url = given_redis or start_valkey(scratch)
    embedded = f"embedded under {scratch}"
    postgres = "from DATABASE_URL" if given_db else embedded
    origin = f"PostgreSQL {postgres}, Redis {'from REDIS_URL' if given_redis else embedded}"
    return database_url, redis_url, origin


def behind_pgbouncer(database_url: str, directory: Path) -> str:
    """Start a private PgBouncer (transaction mode) in front of the embedded PostgreSQL; the DSN through it.

    The same pooler the tests use (tests/support/pgbouncer.py), stopped at exit. The role's fail-closed
    search_path is set directly first, so no server connection the pooler opens predates it. Every
    side (the baseline too) gets DB_STATEMENT_CACHE_SIZE=0, which asyncpg needs behind it.
    """
    import atexit
    import sys

    import asyncpg

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.support.pgbouncer import start_pgbouncer, stop_pgbouncer

    from app.db import PIN_SEARCH_PATH

    async def pin() -> None:
        connection = await asyncpg.connect(database_url)
        try:
            await connection.execute(PIN_SEARCH_PATH)
        finally:
            await connection.close()

    asyncio.run(pin())
    try:
        bouncer = start_pgbouncer(database_url, directory)
    except RuntimeError as exc:
        raise BenchError(str(exc)) from exc
    atexit.register(stop_pgbouncer, bouncer)
    os.environ["DB_STATEMENT_CACHE_SIZE"] = "0"
    return bouncer.url(database_url)


def tenant_token(database_url: str, redis_url: str) -> str:
    """Migrate the shared schema, ensure tenant `bench`, return a fresh token (rotated if it exists)."""
    try:
        return asyncio.run(_tenant_token(database_url, redis_url))
    except Exception as exc:  # the databases are unreachable, or the app's set-up failed
        raise BenchError(f"could not prepare tenant {TENANT!r}: {type(exc).__name__}: {exc}") from exc


async def _tenant_token(database_url: str, redis_url: str) -> str:
    from app.settings import Settings
    from app.tenants import TenantNotFound, standalone_service

    settings = Settings.from_env(database_url=database_url, redis_url=redis_url)
    async with standalone_service(settings) as service:
        try:
            await service.get(TENANT)
        except TenantNotFound:
            return (await service.create(TENANT)).token
        return (await service.rotate_token(TENANT)).token


def ensure_items(base_url: str, token: str) -> int:
    """Top the tenant up to ITEM_COUNT items with POST /items; return how many were created."""
    total = int(_call(base_url + "/items?limit=1", token)["total"])
    for number in range(total + 1, ITEM_COUNT + 1):
        body = {
            "title": f"Bench item {number}",
            "description": f"Row {number} of the benchmark data set.",
            "status": ("pending", "in_progress", "done")[number % 3],
        }
        _call(base_url + "/items", token, body)
    return max(0, ITEM_COUNT - total)


def check_payloads(service_url: str, baseline_url: str, token: str) -> None:
    """BenchError unless both sides return the same ITEM_COUNT rows for GET /items?limit=20."""
    service_items = _call(service_url + f"/items?limit={ITEM_COUNT}", token)["items"]
    baseline_items = _call(baseline_url + f"/items?limit={ITEM_COUNT}", None)
    if len(service_items) != ITEM_COUNT or service_items != baseline_items:
        raise BenchError(
            f"service and baseline disagree: {len(service_items)} vs {len(baseline_items)} rows "
            f"(first: {service_items[:1]} vs {baseline_items[:1]})"
        )


def _call(url: str, token: str | None, body: dict[str, Any] | None = None) -> Any:
    """JSON of one request; BenchError on any non-2xx status."""
    headers = {"Content-Type": "application/json"} | ({"X-TOKEN": token} if token else {})
    data = None if body is None else json.dumps(body).encode()
    method = "GET" if body is None else "POST"
    request = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310 (our own http URLs)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (our own http URLs)
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise BenchError(f"{request.method} {url} -> {exc.code}: {exc.read()[:500]!r}") from exc
