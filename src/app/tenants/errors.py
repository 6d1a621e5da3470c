"""Errors of tenancy: registry, slugs, tokens and rate limits (mapped to problem+json by `app.errors`)."""

from __future__ import annotations

from http import HTTPStatus

from app.errors import DomainError, NotFound, Unauthenticated


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


class TokenRequired(Unauthenticated):
    """No valid X-TOKEN: the 401 names the header to send (RFC 9110 requires a challenge on every 401)."""

    headers = {"WWW-Authenticate": 'ApiKey realm="tenant", header="X-TOKEN"'}  # noqa: RUF012  (a constant)


class AdminKeyRequired(Unauthenticated):
    """No valid X-ADMIN-KEY: the 401 names the header to send."""

    headers = {"WWW-Authenticate": 'ApiKey realm="admin", header="X-ADMIN-KEY"'}  # noqa: RUF012  (a constant)


class RepeatedCredential(DomainError):
    """A credential header sent more than once: which one counts would be a guess, so none does."""

    status = HTTPStatus.BAD_REQUEST
    slug = "repeated-header"
