"""Piccolo's configuration module: the one engine and the registry of Piccolo apps.

`app/__init__.py` points `PICCOLO_CONF` here, so Piccolo finds the same engine object the service
uses (its transactions live in that engine's ContextVar). The top-level `piccolo_conf.py`
re-exports this module for Piccolo's own CLI.
"""

from __future__ import annotations

import functools
from typing import Any

from piccolo.conf.apps import AppRegistry

from app.db import ENGINE

DB = ENGINE

SHARED_APPS = ["app.tenants.piccolo_app"]
"""Apps whose tables live in the shared schema; migrated once per database."""
TENANT_APPS = ["app.items.piccolo_app"]
"""Apps whose tables live in every tenant schema; migrated once per tenant."""


@functools.cache
def app_registry() -> AppRegistry:
    """Piccolo's registry of every app (built on first use: building it imports each app's package)."""
    return AppRegistry(apps=SHARED_APPS + TENANT_APPS)


def __getattr__(name: str) -> Any:
    """`APP_REGISTRY`, built when Piccolo first reads it (PEP 562).

    Not at import: `AppRegistry` imports every app module, and with it its domain package, so a
    domain that reads the app lists here would import the other domains half-way through its own.
    """
    if name == "APP_REGISTRY":
        return app_registry()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
