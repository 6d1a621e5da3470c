"""Piccolo's configuration module: the one engine and the registry of Piccolo apps.

`app/__init__.py` points `PICCOLO_CONF` here, so Piccolo finds the same engine object the service
uses (its transactions live in that engine's ContextVar). The top-level `piccolo_conf.py`
re-exports this module for Piccolo's own CLI.
"""

from __future__ import annotations

from piccolo.conf.apps import AppRegistry

from app.db import ENGINE

DB = ENGINE

SHARED_APPS = ["app.tenants.piccolo_app"]
"""Apps whose tables live in the shared schema; migrated once per database."""
TENANT_APPS = ["app.items.piccolo_app"]
"""Apps whose tables live in every tenant schema; migrated once per tenant."""

APP_REGISTRY = AppRegistry(apps=SHARED_APPS + TENANT_APPS)
