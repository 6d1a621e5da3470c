"""Slugs and the schema names derived from them (T4).

A schema name reaches SQL only after `schema_for` validated it, and is still quoted there
(`app.db.quote_ident`): validation is the first belt, quoting the second.
"""

from __future__ import annotations

import re

from app.tenants.errors import InvalidSlug

SCHEMA_PREFIX = "tenant_"
SCHEMA_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,49}$")
SLUG_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,49}$")
MAX_SLUG_LENGTH = 50 - len(SCHEMA_PREFIX)
SHARED_SCHEMA = "cobreja"
TEMPLATE_SLUG = "template"
TEMPLATE_SCHEMA = SCHEMA_PREFIX + TEMPLATE_SLUG
"""The pre-migrated schema new tenants are cloned from (app.tenants.template)."""
RESERVED_SLUGS = frozenset({TEMPLATE_SLUG, "public", SHARED_SCHEMA, "information_schema"})
"""Names of PostgreSQL's or Cobreja's own schemas: a tenant so named would read as one of them."""
RESERVED_PREFIXES = ("pg_",)
"""PostgreSQL reserves schema names starting with `pg_`."""


def validate_slug(slug: str) -> str:
    """Return `slug` if it can name a tenant, else raise InvalidSlug saying what is wrong."""
    if not isinstance(slug, str) or not slug:
        raise InvalidSlug("A tenant slug is required.")
    if len(slug) > MAX_SLUG_LENGTH:
        raise InvalidSlug(f"A tenant slug has at most {MAX_SLUG_LENGTH} characters.")
    if not SLUG_PATTERN.fullmatch(slug):
        raise InvalidSlug(
            "A tenant slug starts with a lower-case letter and holds only lower-case letters, "
            "digits and underscores (pattern ^[a-z][a-z0-9_]*$)."
        )
    if slug in RESERVED_SLUGS or slug.startswith(RESERVED_PREFIXES):
        raise InvalidSlug(f"The slug {slug!r} is reserved: it names, or reads like, a PostgreSQL or Cobreja schema "
                          f"({', '.join(sorted(RESERVED_SLUGS))}, pg_*).")
    return slug


def schema_for(slug: str) -> str:
    """The PostgreSQL schema of tenant `slug`: `tenant_<slug>`, validated against SCHEMA_PATTERN."""
    schema = SCHEMA_PREFIX + validate_slug(slug)
    if not SCHEMA_PATTERN.fullmatch(schema):  # unreachable while the slug rule holds; kept as a guard
        raise InvalidSlug(f"{schema!r} is not a valid schema name.")
    return schema
