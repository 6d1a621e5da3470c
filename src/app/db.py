"""The PostgreSQL engine, its pool's lifecycle, and the tenant transaction scope (T3).

One engine and one asyncpg pool per process serve every tenant. A tenant request runs all its
queries inside ONE transaction whose `search_path` is set transaction-locally to exactly the
tenant's schema, so a pooled connection can never carry one tenant into the next request.

Outside such a transaction nothing unqualified resolves: the service's role has the default
`search_path = pg_catalog` in its database (`ALTER ROLE ... IN DATABASE ... SET`, made by the
first process that opens a pool, checked by every one). A connect-time setting would do the same
on a direct connection, but transaction poolers (PgBouncer) refuse it, and a role's default holds
through them. Every unit of database work runs under the circuit (app.circuit): a PostgreSQL that
is down or hung costs a request at most `DB_REQUEST_BUDGET_SECONDS`, then milliseconds.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import asyncpg
from loguru import logger
from opentelemetry.instrumentation.utils import suppress_instrumentation
from piccolo.engine.postgres import PostgresEngine, PostgresTransaction

from app.circuit import Circuit, interrupted
from app.errors import UNAUTHENTICATED_DETAIL, Unauthenticated
from app.settings import Settings

T = TypeVar("T")

STALE_STATEMENT_ERRORS: tuple[type[Exception], ...] = (
    asyncpg.InvalidCachedStatementError,
    asyncpg.OutdatedSchemaCacheError,
)
"""A statement asyncpg cached for another shape of the tables: the transaction rolled back, a retry is safe."""


class LazyPostgresEngine(PostgresEngine):
    """Piccolo's engine without the connection its constructor opens, its work guarded by the circuit.

    `PostgresEngine.__init__` checks the server version synchronously, so it cannot be built
    before the database is up (tests, `app dev`). We build it at import with no DSN and give it
    one in `configure_engine`; the version check is skipped because we require PostgreSQL >= 13
    and `app run` fails fast on connection anyway. Piccolo's queries outside a transaction and its
    transactions run under CIRCUIT, and drop (never reuse) a connection left mid-statement.
    """

    async def check_version(self) -> None:
        """Skip Piccolo's connect-at-construction version check."""

    def transaction(self, allow_nested: bool = True) -> GuardedTransaction:
        """A Piccolo transaction under the circuit (nested ones join their parent, as Piccolo's do)."""
        return GuardedTransaction(self, "BEGIN", allow_nested=allow_nested)

    async def _run_in_pool(self, query: str, args: Sequence[Any] | None = None) -> list[asyncpg.Record]:
        if self.pool is None:
            raise ValueError("A pool isn't currently running.")
        async with CIRCUIT.guard():
            connection = await self.pool.acquire(timeout=_pool_timeout())
            try:
                rows: list[asyncpg.Record] = await connection.fetch(query, *(args or ()))
            except BaseException as exc:
                _drop_if_interrupted(connection, exc)
                raise
            finally:
                await _release(self, connection)
        return rows


async def _probe(seconds: float) -> None:
    """The circuit's probe: a fresh connection (not the pool's, which may all be stuck) answers `SELECT 1`."""
    connection = await asyncpg.connect(**{**connect_arguments(), "timeout": seconds})
    try:
        await connection.fetchval("SELECT 1", timeout=seconds)
    finally:
        connection.terminate()


ENGINE = LazyPostgresEngine(config={})
CIRCUIT = Circuit(_probe)
"""Whether PostgreSQL is reachable, as this process sees it (app.circuit)."""

FAIL_CLOSED_SEARCH_PATH = "pg_catalog"
"""The search_path of every connection outside a tenant transaction: nothing unqualified resolves."""


def configure_engine(settings: Settings) -> LazyPostgresEngine:
    """Point the shared engine (and its circuit) at `settings.database_url`; no connection is opened here.

    No connect-time `server_settings`: PgBouncer refuses startup parameters it does not know.
    The fail-closed search_path is the role's default instead (see `settle_search_path`).
    """
    ENGINE.config = {
        "dsn": settings.database_url,
        "timeout": settings.db_connect_timeout_seconds,
        "command_timeout": settings.db_command_timeout_seconds,
        # 0 behind PgBouncer in transaction mode (< 1.21): asyncpg then uses unnamed statements,
        # parsed again in the same round trip as their execution, which any server connection takes.
        "statement_cache_size": settings.db_statement_cache_size,
    }
    CIRCUIT.configure(budget=settings.db_request_budget_seconds, interval=settings.db_probe_interval_seconds)
    return ENGINE


def connect_arguments() -> dict[str, Any]:
    """The arguments of `asyncpg.connect` for a connection like the pool's (DSN, timeouts, statement cache)."""
    return dict(ENGINE.config)


async def start_pool(settings: Settings, connection_class: type[asyncpg.Connection] = asyncpg.Connection) -> None:
    """Open the process's pool and make sure its connections fail closed; fails fast if unreachable.

    `connection_class` lets the app's assembly hand in a connection that times its statements
    (the telemetry's), without this module knowing of telemetry. Raises UnsafeSearchPath when
    connections would not get the fail-closed search_path (see `settle_search_path`).
    """
    configure_engine(settings)
    await ENGINE.start_connection_pool(
        min_size=settings.db_pool_min_size,
        max_size=settings.db_pool_max_size,
        max_inactive_connection_lifetime=300,
        connection_class=connection_class,
    )
    try:
        await settle_search_path()
    except BaseException:
        await stop_pool()
        raise


async def stop_pool() -> None:
    """Close the pool (idempotent) and stop the circuit's probes."""
    await CIRCUIT.close()
    if ENGINE.pool is not None:
        await ENGINE.close_connection_pool()


class UnsafeSearchPath(RuntimeError):
    """Connections to PostgreSQL would not get the fail-closed search_path; the process must not serve."""


_PINNED = """SELECT EXISTS (SELECT FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole
                               JOIN pg_database d ON d.oid = s.setdatabase
                         WHERE r.rolname = current_user AND d.datname = current_database()
                           AND $1 = ANY (s.setconfig))"""
PIN_SEARCH_PATH = ("DO $$ BEGIN EXECUTE format('ALTER ROLE %I IN DATABASE %I SET search_path = pg_catalog', "
        "current_user, current_database()); END $$")
"""Give the current role the fail-closed search_path as its default in the current database."""
_OBSERVED = "SELECT current_setting('search_path') AS value, source FROM pg_settings WHERE name = 'search_path'"
STALE_SOURCES = frozenset({"default", "database", "user", "configuration file"})
"""Where a connection's search_path comes from when it began before the role's default was set."""


async def settle_search_path() -> None:
    """Give the service's role the fail-closed default in this database if it lacks it, then check a connection.

    `ALTER ROLE current_user IN DATABASE <db> SET search_path = pg_catalog`: any role may set its
    own defaults (no ownership of the database needed, unlike `ALTER DATABASE`), it applies to this
    database only, and it is the most specific level, so no database- or role-wide default wins.
    It applies to sessions that begin later: after setting it, the pool's connections are replaced.
    Then a connection must show `pg_catalog` outside a transaction, else UnsafeSearchPath.
    """
    pool = ENGINE.pool
    if pool is None:
        raise RuntimeError("the connection pool is not started")
    async with pool.acquire(timeout=_pool_timeout()) as connection:
        pinned = await connection.fetchval(_PINNED, f"search_path={FAIL_CLOSED_SEARCH_PATH}")
        if not pinned:
            try:
                await connection.execute(PIN_SEARCH_PATH)
            except asyncpg.InsufficientPrivilegeError as exc:
                raise UnsafeSearchPath(f"cannot set the role's default search_path ({exc}); as the database "
                                       "owner run: ALTER ROLE <service role> IN DATABASE <database> "
                                       "SET search_path = pg_catalog") from exc
            except asyncpg.PostgresError:  # another process set it at the same moment ("tuple concurrently updated")
                if not await connection.fetchval(_PINNED, f"search_path={FAIL_CLOSED_SEARCH_PATH}"):
                    raise
            logger.info("set the role's default search_path to {} in this database", FAIL_CLOSED_SEARCH_PATH)
    if not pinned:
        await pool.expire_connections()
    async with pool.acquire(timeout=_pool_timeout()) as connection:
        observed: Any = await connection.fetchrow(_OBSERVED)
    if observed["value"] != FAIL_CLOSED_SEARCH_PATH:
        raise UnsafeSearchPath(_unsafe_message(observed["value"], observed["source"]))


def _unsafe_message(value: str, source: str) -> str:
    start = (f"PostgreSQL connections get search_path={value!r} (from {source}), not {FAIL_CLOSED_SEARCH_PATH!r}: "
             "a query that escaped its tenant transaction would not fail closed. ")
    if source in STALE_SOURCES:
        return start + ("The role's default is set, but this server connection began before it: a pooler keeps "
                        "such connections. Run RECONNECT on the PgBouncer admin console (or restart the pooler), "
                        "then start again.")
    return start + ("Something sets it for every connection (DSN `options`, PgBouncer `connect_query`, "
                    "PGOPTIONS): remove that.")


def quote_ident(name: str) -> str:
    """Quote an identifier for PostgreSQL. Callers validate names first; quoting is the second belt."""
    return '"' + name.replace('"', '""') + '"'


class AbortedTransactionError(RuntimeError):
    """COMMIT found the transaction already failed and rolled it back: nothing was written."""


class GuardedTransaction(PostgresTransaction):
    """A Piccolo transaction under the circuit, that begins with `begin_sql` in one round trip.

    Piccolo finds it through the engine's ContextVar, so every Piccolo query in the block (and any
    nested `ENGINE.transaction()`, which joins it) runs on this connection. Unlike Piccolo's own
    class: it is refused at once while PostgreSQL is known unreachable and interrupted past the
    budget (app.circuit); acquiring waits at most the connect timeout; a connection left
    mid-statement (interrupted, timed out, broken) is dropped instead of rolled back, which on a
    hung server would wait again; the connection goes back to the pool even when BEGIN, COMMIT or
    ROLLBACK fails; a failed ROLLBACK never hides the error that caused it; and a COMMIT that
    PostgreSQL turned into a rollback raises instead of passing for success.
    """

    __slots__ = ("_begin_sql", "_guard")

    def __init__(self, engine: PostgresEngine, begin_sql: str, *, allow_nested: bool) -> None:
        super().__init__(engine, allow_nested=allow_nested)
        self._begin_sql = begin_sql
        self._guard: Any = None

    async def __aenter__(self) -> GuardedTransaction:
        if self._parent is not None:
            return self._parent  # type: ignore[return-value]
        if self.engine.pool is None:
            raise RuntimeError("the connection pool is not started")
        self._guard = CIRCUIT.guard()
        await self._guard.__aenter__()
        try:
            self.connection = await self.engine.pool.acquire(timeout=_pool_timeout())
            try:
                await self.connection.execute(self._begin_sql)
            except BaseException as exc:
                _drop_if_interrupted(self.connection, exc)
                await _release(self.engine, self.connection)
                raise
        except BaseException as exc:
            await self._exit_guard(exc)
            raise
        self.context = self.engine.current_transaction.set(self)
        return self

    async def __aexit__(self, exc_type: object, exc: BaseException | None, tb: object) -> bool:
        if self._parent is not None:
            return exc is None
        try:
            try:
                if exc is not None:
                    if not _drop_if_interrupted(self.connection, exc):
                        await self._rollback_quietly()
                elif not (self._committed or self._rolled_back):
                    await self.commit()
            except BaseException as failure:
                _drop_if_interrupted(self.connection, failure)
                raise
            finally:
                self.engine.current_transaction.reset(self.context)
                await _release(self.engine, self.connection)
        except BaseException as failure:
            await self._exit_guard(failure)
            raise
        await self._exit_guard(exc)
        return False

    async def _exit_guard(self, exc: BaseException | None) -> None:
        """Leave the circuit's guard; it turns its own interruption into DatabaseUnreachable (raised here)."""
        guard, self._guard = self._guard, None
        if guard is None:
            return
        if exc is None:
            await guard.__aexit__(None, None, None)
        elif await guard.__aexit__(type(exc), exc, exc.__traceback__):
            return  # never: the guard suppresses nothing

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


class TenantTransaction(GuardedTransaction):
    """The tenant's transaction: `BEGIN; SET LOCAL search_path TO "<schema>"` as one simple-protocol message.

    COMMIT/ROLLBACK go as one more each, instead of BEGIN, a parametrised set_config and COMMIT.
    Never nested: a tenant scope inside another transaction is a bug.
    """

    __slots__ = ()

    def __init__(self, engine: PostgresEngine, search_path: str) -> None:
        super().__init__(engine, f"BEGIN; SET LOCAL search_path TO {search_path}", allow_nested=False)


def _drop_if_interrupted(connection: Any, exc: BaseException) -> bool:
    """Terminate `connection` if `exc` left it mid-statement (it goes back to the pool closed); whether it did."""
    if interrupted(exc) and not connection.is_closed():
        connection.terminate()
        return True
    return interrupted(exc)


async def _release(engine: PostgresEngine, connection: Any) -> None:
    if engine.pool is not None:
        # The pool's reset query on release is housekeeping, not the request's work: as a span it
        # would add to every request's tracing cost (bench/README.md has the figures).
        with suppress_instrumentation():
            await engine.pool.release(connection, timeout=_pool_timeout())


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
    rows = await ENGINE._run_in_pool("SELECT to_regnamespace($1) IS NOT NULL AS present", [quote_ident(schema)])
    return bool(rows[0]["present"])


def scope_connection() -> asyncpg.Connection:
    """The asyncpg connection of the current tenant transaction, for hand-written hot queries.

    Raises RuntimeError outside a tenant scope: an unscoped query must never run (fail closed).
    """
    transaction = ENGINE.current_transaction.get()
    if not isinstance(transaction, TenantTransaction):
        raise RuntimeError("no tenant transaction is active")
    connection: asyncpg.Connection = transaction.connection
    return connection
