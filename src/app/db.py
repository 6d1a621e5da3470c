"""The PostgreSQL engine, its pool's lifecycle, and the tenant transaction scope (T3).

One engine and one asyncpg pool per process serve every tenant. A tenant request runs all its
queries inside ONE transaction whose `search_path` is set transaction-locally to exactly the
tenant's schema, so a pooled connection can never carry one tenant into the next request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg
from loguru import logger
from opentelemetry.instrumentation.utils import suppress_instrumentation
from piccolo.engine.postgres import PostgresEngine, PostgresTransaction

from app.errors import UNAUTHENTICATED_DETAIL, Unauthenticated
from app.settings import Settings

T = TypeVar("T")

STALE_STATEMENT_ERRORS: tuple[type[Exception], ...] = (
    asyncpg.InvalidCachedStatementError,
    asyncpg.OutdatedSchemaCacheError,
)
"""A statement asyncpg cached for another shape of the tables: the transaction rolled back, a retry is safe."""


class LazyPostgresEngine(PostgresEngine):
    """Piccolo's engine without the connection its constructor opens.

    `PostgresEngine.__init__` checks the server version synchronously, so it cannot be built
    before the database is up (tests, `app dev`). We build it at import with no DSN and give it
    one in `configure_engine`; the version check is skipped because we require PostgreSQL >= 13
    and `app run` fails fast on connection anyway.
    """

    async def check_version(self) -> None:
        """Skip Piccolo's connect-at-construction version check."""


ENGINE = LazyPostgresEngine(config={})


def configure_engine(settings: Settings) -> LazyPostgresEngine:
    """Point the shared engine at `settings.database_url`; no connection is opened here."""
    ENGINE.config = {
        "dsn": settings.database_url,
        "timeout": settings.db_connect_timeout_seconds,
        "command_timeout": settings.db_command_timeout_seconds,
        # Outside a tenant transaction nothing unqualified resolves (pg_catalog is always searched):
        # a query that escaped its scope fails instead of reading whatever `public` holds.
        "server_settings": {"search_path": "pg_catalog"},
    }
    return ENGINE


async def start_pool(settings: Settings, connection_class: type[asyncpg.Connection] = asyncpg.Connection) -> None:
    """Open the process's pool; fails fast (with the DSN's host, never its password) if unreachable.

    `connection_class` lets the app's assembly hand in a connection that times its statements
    (the telemetry's), without this module knowing of telemetry.
    """
    configure_engine(settings)
    await ENGINE.start_connection_pool(
        min_size=settings.db_pool_min_size,
        max_size=settings.db_pool_max_size,
        max_inactive_connection_lifetime=300,
        connection_class=connection_class,
    )


async def stop_pool() -> None:
    """Close the pool (idempotent)."""
    if ENGINE.pool is not None:
        await ENGINE.close_connection_pool()


def quote_ident(name: str) -> str:
    """Quote an identifier for PostgreSQL. Callers validate names first; quoting is the second belt."""
    return '"' + name.replace('"', '""') + '"'


class AbortedTransactionError(RuntimeError):
    """COMMIT found the transaction already failed and rolled it back: nothing was written."""


class TenantTransaction(PostgresTransaction):
    """A Piccolo transaction that begins with the tenant's search_path, in one round trip.

    `BEGIN; SET LOCAL search_path TO "<schema>"` goes out as one simple-protocol message, and
    COMMIT/ROLLBACK as one more each, instead of BEGIN, a parametrised set_config and COMMIT.
    Piccolo finds it through the engine's ContextVar, so every Piccolo query in the block (and any
    nested `ENGINE.transaction()`) runs on this connection. Unlike Piccolo's own class:
    acquiring waits at most the connect timeout; the connection goes back to the pool even when
    BEGIN, COMMIT or ROLLBACK fails; a failed ROLLBACK never hides the error that caused it; and
    a COMMIT that PostgreSQL turned into a rollback raises instead of passing for success.
    """

    __slots__ = ("_begin_sql",)

    def __init__(self, engine: PostgresEngine, search_path: str) -> None:
        super().__init__(engine, allow_nested=False)
        self._begin_sql = f"BEGIN; SET LOCAL search_path TO {search_path}"

    async def __aenter__(self) -> TenantTransaction:
        if self.engine.pool is None:
            raise RuntimeError("the connection pool is not started")
        self.connection = await self.engine.pool.acquire(timeout=_pool_timeout())
        try:
            await self.connection.execute(self._begin_sql)
        except BaseException:
            await self._release()
            raise
        self.context = self.engine.current_transaction.set(self)
        return self

    async def __aexit__(self, exc_type: object, exc: BaseException | None, tb: object) -> bool:
        try:
            if exc is not None:
                await self._rollback_quietly()
            elif not (self._committed or self._rolled_back):
                await self.commit()
        finally:
            self.engine.current_transaction.reset(self.context)
            await self._release()
        return False

    async def commit(self) -> None:
        """COMMIT, and raise if PostgreSQL answered that it rolled back instead."""
        status = await self.connection.execute("COMMIT")
        self._committed = True
        if status != "COMMIT":
            raise AbortedTransactionError("the transaction had failed; COMMIT rolled it back")

    async def rollback(self) -> None:
        """ROLLBACK (a no-op on a connection that is already closed)."""
        self._rolled_back = True
        if not self.connection.is_closed():
            await self.connection.execute("ROLLBACK")

    async def _rollback_quietly(self) -> None:
        if self._rolled_back:
            return
        try:
            await self.rollback()
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            logger.warning("rollback failed after an error: {}", type(exc).__name__)

    async def _release(self) -> None:
        if self.engine.pool is not None:
            # The pool's reset query on release is housekeeping, not the request's work: as a span it
            # would add to every request's tracing cost (bench/README.md has the figures).
            with suppress_instrumentation():
                await self.engine.pool.release(self.connection, timeout=_pool_timeout())


def _pool_timeout() -> float:
    timeout: float = ENGINE.config.get("timeout", 2.0)
    return timeout


class TenantScope:
    """Runs a unit of work inside the tenant's transaction (injected into tenant handlers)."""

    __slots__ = ("_search_path", "schema", "slug")

    def __init__(self, slug: str, schema: str) -> None:
        self.slug = slug
        self.schema = schema
        self._search_path = quote_ident(schema)

    async def run(self, work: Callable[[], Awaitable[T]]) -> T:
        """Run `work` in one transaction with `search_path` = the tenant's schema, transaction-local.

        asyncpg caches prepared statements by query text; if a tenant's tables changed shape under
        a cached statement, PostgreSQL raises `InvalidCachedStatementError`. The transaction has
        then rolled back, so re-running the whole unit once is safe.
        """
        try:
            return await self._run_once(work)
        except STALE_STATEMENT_ERRORS:
            logger.info("retrying tenant transaction after a stale cached statement")
            return await self._run_once(work)
        except asyncpg.UndefinedTableError:
            if await _schema_exists(self.schema):
                raise
            # The tenant was deleted while its token was still cached somewhere: same 401 as revoked.
            raise Unauthenticated(UNAUTHENTICATED_DETAIL) from None

    async def _run_once(self, work: Callable[[], Awaitable[T]]) -> T:
        async with TenantTransaction(ENGINE, self._search_path):
            result = await work()
        return result  # noqa: RET504  (returning inside `async with` confuses mypy about exceptions)


async def _schema_exists(schema: str) -> bool:
    async with ENGINE.pool.acquire(timeout=_pool_timeout()) as connection:  # type: ignore[union-attr]
        return bool(await connection.fetchval("SELECT to_regnamespace($1) IS NOT NULL", quote_ident(schema)))


def scope_connection() -> asyncpg.Connection:
    """The asyncpg connection of the current tenant transaction, for hand-written hot queries.

    Raises RuntimeError outside a tenant scope: an unscoped query must never run (fail closed).
    """
    transaction = ENGINE.current_transaction.get()
    if not isinstance(transaction, TenantTransaction):
        raise RuntimeError("no tenant transaction is active")
    connection: asyncpg.Connection = transaction.connection
    return connection
