"""Piccolo app of the shared schema (the tenant registry); its migrations run once per database."""

from __future__ import annotations

import os

from piccolo.conf.apps import AppConfig

from app.tenants.fleet.ledger import MigrationLedger
from app.tenants.tables import Tenant, TenantToken, TokenOutbox

APP_CONFIG = AppConfig(
    app_name="tenants",
    migrations_folder_path=os.path.join(os.path.dirname(__file__), "piccolo_migrations"),
    table_classes=[Tenant, TenantToken, MigrationLedger, TokenOutbox],
)
