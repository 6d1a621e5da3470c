"""`app dev`: migrate, ensure the `demo` tenant, and tell the developer what to use."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from loguru import logger

from app.settings import Settings
from app.tenants import TenantNotFound, standalone_service
from app.tenants.fleet import RunOptions, run_migrations

DEMO_SLUG = "demo"


async def prepare_dev(settings: Settings) -> str:
    """Migrate, ensure the `demo` tenant, and return a fresh demo token.

    Tokens are stored only as hashes, so a restart cannot show the previous token again: the demo
    tenant's token is rotated on every start instead (its items are kept).
    """
    async with standalone_service(settings) as service:
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
        f"  API docs       {base}/schema  (Swagger UI, works offline; ReDoc: {base}/schema/redoc)",
        f"  Health         {base}/health",
        f"  Metrics        {base}/metrics",
        f"  Dashboard      {base}/monitoring/  (any user name, password {settings.monitoring_password})",
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
