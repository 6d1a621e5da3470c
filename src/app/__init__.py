"""Cobreja: a multi-tenant REST API service (Litestar + Piccolo on asyncpg, a schema per tenant)."""

import os

# Piccolo locates its engine through this module path; set it before any table is used so the
# service, its migrations and Piccolo's CLI all share the one engine in app.piccolo_conf.
os.environ.setdefault("PICCOLO_CONF", "app.piccolo_conf")
