"""The fleet migration runner (T6): the shared schema, the template, then every tenant schema.

`schema` migrates one schema (the one path every migration takes), `plan` loads the migrations,
`ledger` records each attempt, `targets` turns one schema's run into a result, `run` drives the
fleet, `summary` is what a run found, and `cli` with `progress` is its command-line face.
"""

from app.tenants.fleet.cli import main as migrate_command
from app.tenants.fleet.run import DEFAULT_JOBS, RunObserver, RunOptions, SilentObserver, run_migrations, runner_pool
from app.tenants.fleet.schema import migrate_shared, migrate_tenant_schema
from app.tenants.fleet.summary import RunSummary, SchemaResult, Target

__all__ = [
    "DEFAULT_JOBS",
    "RunObserver",
    "RunOptions",
    "RunSummary",
    "SchemaResult",
    "SilentObserver",
    "Target",
    "migrate_command",
    "migrate_shared",
    "migrate_tenant_schema",
    "run_migrations",
    "runner_pool",
]
