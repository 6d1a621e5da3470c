"""Errors of tenancy: registry, slugs, tokens and rate limits (mapped to problem+json by `app.errors`)."""

from __future__ import annotations

from http import HTTPStatus

from app.errors import DomainError, NotFound


class TenantNotFound(NotFound):
    """No tenant with this slug in the registry."""


class TenantExists(DomainError):
    """A tenant with this slug is already registered."""

    status = HTTPStatus.CONFLICT
    slug = "tenant-exists"


class InvalidSlug(DomainError):
    """A tenant slug that cannot become a safe schema name."""

    status = HTTPStatus.UNPROCESSABLE_ENTITY
    slug = "invalid-slug"


class TenantSuspended(DomainError):
    """The token is valid but its tenant is suspended."""

    status = HTTPStatus.FORBIDDEN
    slug = "tenant-suspended"


class TenantRateLimited(DomainError):
    """The tenant made more requests than its rate allows; `retry_after` says when to come back."""

    status = HTTPStatus.TOO_MANY_REQUESTS
    slug = "rate-limited"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.headers = {"Retry-After": str(retry_after)}
