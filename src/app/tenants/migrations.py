"""Apply Piccolo migrations to one schema at a time (the core the runner and tenant creation use).

Each schema keeps its own Piccolo `migration` table. Piccolo's `TableExists` does not filter by
schema, so we create that table ourselves with `IF NOT EXISTS` under the schema's search_path,
and drive the migration modules directly (the same steps as Piccolo's ForwardsMigrationManager)
inside the caller's transaction, so DDL and ledger rows commit or roll back together.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from loguru import logger
from piccolo.apps.migrations.auto import migration_manager as _piccolo_manager_module
from piccolo.apps.migrations.commands.base import BaseMigrationManager
from piccolo.apps.migrations.tables import Migration
from piccolo.conf.apps import AppConfig

from app.db import ENGINE, SET_SEARCH_PATH, quote_ident
from app.piccolo_conf import SHARED_APPS, TENANT_APPS
from app.tenants.naming import SHARED_SCHEMA


def _log_instead_of_print(*args: Any, **_: Any) -> None:
    """Piccolo's MigrationManager.run() prints progress; in a server that would break JSON logs."""
    logger.debug("piccolo: {}", " ".join(str(a) for a in args))


# Deliberate, narrow patch: only the migration manager module's `print` name is replaced.
_piccolo_manager_module.print = _log_instead_of_print  # type: ignore[attr-defined]


def _app_config(module_path: str) -> AppConfig:
    config: AppConfig = import_module(module_path).APP_CONFIG
    return config


def _migration_modules(config: AppConfig) -> dict[str, Any]:
    manager = BaseMigrationManager()
    modules: dict[str, Any] = manager.get_migration_modules(config.resolved_migrations_folder_path)
    return modules


def pending_migrations(config: AppConfig, already_ran: set[str]) -> list[tuple[str, Any]]:
    """The (id, module) pairs of `config` not in `already_ran`, oldest first."""
    modules = _migration_modules(config)
    return [(mid, modules[mid]) for mid in sorted(modules) if mid not in already_ran]


async def apply_app_migrations(config: AppConfig) -> list[str]:
    """Run the pending migrations of one app under the current search_path; return their ids.

    Must run inside a transaction whose search_path is the target schema.
    """
    await Migration.create_table(if_not_exists=True)
    ran = set(await Migration.get_migrations_which_ran(app_name=config.app_name))
    applied = []
    for migration_id, module in pending_migrations(config, ran):
        manager = await module.forwards()
        await manager.run()
        await Migration.insert(Migration(name=migration_id, app_name=config.app_name))
        applied.append(migration_id)
    return applied


async def migrate_schema(schema: str, app_modules: list[str]) -> list[str]:
    """Bring `schema` up to date with `app_modules`, in one transaction, under an advisory lock.

    Joins the caller's transaction if there is one (tenant creation), so everything is atomic.
    """
    applied: list[str] = []
    async with ENGINE.transaction() as transaction:
        connection = transaction.connection
        await connection.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"cobreja:migrate:{schema}")
        await connection.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(schema)}")
        await connection.execute(SET_SEARCH_PATH, quote_ident(schema))
        for module_path in app_modules:
            applied += await apply_app_migrations(_app_config(module_path))
    if applied:
        logger.info("schema {} migrated: {}", schema, ", ".join(applied))
    return applied


async def migrate_shared() -> list[str]:
    """Bring the shared schema (the registry) up to date."""
    return await migrate_schema(SHARED_SCHEMA, SHARED_APPS)


async def migrate_tenant_schema(schema: str) -> list[str]:
    """Bring one tenant schema up to date with every tenant app."""
    return await migrate_schema(schema, TENANT_APPS)
