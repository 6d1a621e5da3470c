"""Wire and cache shapes of tenants (msgspec)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

TenantStatus = Literal["active", "suspended", "deleting"]
"""`deleting`: tokens revoked, schema being dropped; a re-run of delete finishes the job."""


class TenantRecord(msgspec.Struct, frozen=True, gc=False):
    """What a token resolves to: cached in process and in Redis; never holds the token."""

    slug: str
    schema: str
    status: TenantStatus


class TenantCreate(msgspec.Struct, forbid_unknown_fields=True):
    """Body of `POST /admin/tenants`."""

    # No pattern or length bounds here on purpose: every invalid slug gets the service's one explanatory
    # 422 (`naming.validate_slug`), not a bare 400 for some and a 422 for others.
    slug: Annotated[str, msgspec.Meta(description="tenant slug: 1-43 characters, ^[a-z][a-z0-9_]*$, not reserved "
                                                  "(template, public, cobreja, information_schema, pg_*)")]


class TenantOut(msgspec.Struct):
    """A tenant as the admin API and the CLI show it (no token material)."""

    slug: str
    schema: str
    status: TenantStatus
    placement: str
    created_at: datetime
    updated_at: datetime


class TenantPage(msgspec.Struct):
    """One page of tenants, oldest first, with the total matching the filter."""

    tenants: list[TenantOut]
    total: int
    limit: int
    offset: int


class TenantCreated(msgspec.Struct):
    """The answer to a creation: the tenant and its token, shown this once and never again."""

    tenant: TenantOut
    token: str
