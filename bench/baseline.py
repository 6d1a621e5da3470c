"""The baseline: a bare Litestar + asyncpg app serving the same rows as the service's GET /items.

No auth, no tenant resolution, no transaction, no ORM: one schema-qualified SELECT on a pooled
connection, rows encoded by msgspec (Litestar's own encoder). Run under the same server and flags
as `app run`:

    DATABASE_URL=... python bench/baseline.py --port 8702 --pool-min 2 --pool-max 10
"""

from __future__ import annotations

import argparse
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from uuid import UUID

import asyncpg
import msgspec
import uvicorn
from litestar import Litestar, get
from litestar.datastructures import State

SCHEMA = os.environ.get("BASELINE_SCHEMA", "tenant_bench")
QUERY = (
    "SELECT id, title, description, status, created_at, updated_at "
    f'FROM "{SCHEMA}"."item" ORDER BY created_at DESC, id DESC LIMIT $1 OFFSET $2'
)


class Row(msgspec.Struct):
    """One item row, as the service's ItemOut has it."""

    id: UUID
    title: str
    description: str | None
    status: str
    created_at: datetime
    updated_at: datetime


@get("/items")
async def list_items(state: State, limit: int = 50, offset: int = 0) -> list[Row]:
    """One page of rows, newest first."""
    pool: asyncpg.Pool = state.pool
    records = await pool.fetch(QUERY, limit, offset)
    return [Row(*record) for record in records]


def create_app() -> Litestar:
    """The baseline app; its pool from DATABASE_URL, BASELINE_POOL_MIN/MAX and DB_STATEMENT_CACHE_SIZE."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        app.state.pool = await asyncpg.create_pool(
            os.environ["DATABASE_URL"],
            min_size=int(os.environ.get("BASELINE_POOL_MIN", "2")),
            max_size=int(os.environ.get("BASELINE_POOL_MAX", "10")),
            statement_cache_size=int(os.environ.get("DB_STATEMENT_CACHE_SIZE") or "100"),  # 0 behind PgBouncer
        )
        try:
            yield
        finally:
            await app.state.pool.close()

    return Litestar(route_handlers=[list_items], lifespan=[lifespan])


def main() -> None:
    """Serve the baseline with uvicorn, one worker, the flags `app run` uses."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8702)
    parser.add_argument("--pool-min", type=int, default=2)
    parser.add_argument("--pool-max", type=int, default=10)
    args = parser.parse_args()
    os.environ["BASELINE_POOL_MIN"] = str(args.pool_min)
    os.environ["BASELINE_POOL_MAX"] = str(args.pool_max)
    uvicorn.run(
        "baseline:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=1,
        access_log=False,
        log_level="warning",
        timeout_graceful_shutdown=30,
        app_dir=os.path.dirname(os.path.abspath(__file__)),
    )


if __name__ == "__main__":
    main()
