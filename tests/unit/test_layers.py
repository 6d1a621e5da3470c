"""The one-way layers hold at import time, not only in the import-linter contracts."""

from __future__ import annotations

import subprocess
import sys

LOADED = "import sys, {module}; print('\\n'.join(sorted(m for m in sys.modules if m.startswith('app.'))))"


def loaded_by(module: str) -> list[str]:
    """The app modules a fresh interpreter has loaded after importing `module`."""
    done = subprocess.run([sys.executable, "-c", LOADED.format(module=module)], capture_output=True, text=True,
                          check=True, timeout=60)
    return done.stdout.split()


def test_importing_telemetry_loads_no_domain() -> None:
    """`import app.telemetry` loads telemetry and core only: no tenancy, no fleet runner, no other domain."""
    loaded = loaded_by("app.telemetry")
    assert "app.telemetry.plugin" in loaded
    assert [m for m in loaded if m.split(".")[1] in {"tenants", "items", "monitoring", "console"}] == []


def test_importing_core_loads_no_app_package() -> None:
    """The core modules (settings, errors, db, embedded) load nothing of the packages above them."""
    loaded = loaded_by("app.settings, app.errors, app.db, app.embedded, app.piccolo_conf")
    assert [m for m in loaded if m.split(".")[1] in {"tenants", "items", "monitoring", "telemetry", "console"}] == []
