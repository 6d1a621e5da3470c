"""Tenancy: the registry, tokens, resolution, the lifecycle service, admin routes, the CLI and the fleet runner.

What other packages use is re-exported here; the modules behind it are this package's own.
"""

from app.tenants.assembly import (
    FleetActivity,
    fleet_activity,
    listener_state,
    registry_counts,
    standalone_service,
    tenancy,
)
from app.tenants.cli import tenants as tenants_command
from app.tenants.errors import InvalidSlug, TenantExists, TenantNotFound, TenantRateLimited, TenantSuspended
from app.tenants.guard import has_admin_key, provide_tenant_db, tenant_guard
from app.tenants.routes import AdminTenantController
from app.tenants.service import TenantService
from app.tenants.token_store import connect_redis

__all__ = [
    "AdminTenantController",
    "FleetActivity",
    "InvalidSlug",
    "TenantExists",
    "TenantNotFound",
    "TenantRateLimited",
    "TenantService",
    "TenantSuspended",
    "connect_redis",
    "fleet_activity",
    "has_admin_key",
    "listener_state",
    "provide_tenant_db",
    "registry_counts",
    "standalone_service",
    "tenancy",
    "tenant_guard",
    "tenants_command",
]
