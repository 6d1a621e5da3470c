"""The ordered list of Piccolo migrations of a set of apps, loaded once and reused for every schema.

Piccolo's own loader (`BaseMigrationManager.get_migration_modules`) puts the folder on `sys.path`
on every call and imports modules by their bare file name, so two folders holding files of the
same name would share one module. We load each file by its path instead, and keep it until the
file changes: a run over thousands of schemas reads the folder once, and creating a tenant does
not re-import anything.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from types import ModuleType

from piccolo.conf.apps import AppConfig


@dataclass(frozen=True, slots=True)
class PlannedMigration:
    """One migration module of one app."""

    app_name: str
    migration_id: str
    module: ModuleType
    """A Piccolo migration module: `ID` and `async def forwards() -> MigrationManager`."""

    @property
    def key(self) -> tuple[str, str]:
        """(app name, migration id), as Piccolo's `migration` table records it."""
        return (self.app_name, self.migration_id)

    @property
    def label(self) -> str:
        """`app:id`, for people."""
        return f"{self.app_name}:{self.migration_id}"


MigrationPlan = tuple[PlannedMigration, ...]
"""Every migration of some apps: apps in the order given, each app's migrations by id."""

_loaded: dict[Path, tuple[int, ModuleType]] = {}
"""Migration modules by file, with the file's mtime when it was loaded."""


def load_plan(app_modules: list[str]) -> MigrationPlan:
    """The migrations of the Piccolo apps at `app_modules` (e.g. `app.items.piccolo_app`)."""
    plan: list[PlannedMigration] = []
    for module_path in app_modules:
        config: AppConfig = import_module(module_path).APP_CONFIG
        plan += app_migrations(config)
    return tuple(plan)


def app_migrations(config: AppConfig) -> list[PlannedMigration]:
    """The migrations in `config`'s migrations folder, oldest id first."""
    folder = Path(config.resolved_migrations_folder_path)
    modules = [_module(path) for path in sorted(folder.glob("*.py")) if path.name != "__init__.py"]
    found = [PlannedMigration(config.app_name, str(module.ID), module) for module in modules
             if getattr(module, "ID", None)]
    return sorted(found, key=lambda migration: migration.migration_id)


def _module(path: Path) -> ModuleType:
    """The module of file `path`, loaded again only if the file changed since."""
    path = path.resolve()
    mtime = path.stat().st_mtime_ns
    cached = _loaded.get(path)
    if cached is not None and cached[0] == mtime:
        return cached[1]
    module = _load(path)
    _loaded[path] = (mtime, module)
    return module


def _load(path: Path) -> ModuleType:
    digest = hashlib.sha1(str(path).encode(), usedforsecurity=False).hexdigest()[:12]
    name = f"_cobreja_migration_{digest}_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the migration file {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # some module-level code (dataclasses, pickling) looks itself up here
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module
