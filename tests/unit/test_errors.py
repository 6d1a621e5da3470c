"""One error tree, one mapper (errors.py): each domain error becomes its problem+json status."""

from __future__ import annotations

import pytest
from litestar.exceptions import NotFoundException, ValidationException

from app.errors import (
    DomainError,
    ServiceUnavailable,
    Unauthenticated,
    from_domain_error,
    from_http_exception,
    from_unavailable_dependency,
    from_unexpected,
)
from app.items.errors import ItemNotFound
from app.tenants.errors import InvalidSlug, TenantExists, TenantNotFound, TenantSuspended


@pytest.mark.parametrize(
    ("error", "status", "type_suffix"),
    [
        (ItemNotFound("x"), 404, "not-found"),
        (TenantNotFound("x"), 404, "not-found"),
        (TenantExists("x"), 409, "tenant-exists"),
        (InvalidSlug("x"), 422, "invalid-slug"),
        (Unauthenticated("x"), 401, "unauthenticated"),
        (TenantSuspended("x"), 403, "tenant-suspended"),
        (ServiceUnavailable("x"), 503, "service-unavailable"),
    ],
)
def test_domain_errors_map_to_their_status_and_type(error: DomainError, status: int, type_suffix: str) -> None:
    """Each domain error keeps its detail and gets a stable `type` URI and title."""
    problem = from_domain_error(error)
    assert problem.status_code == status
    assert problem.type_ is not None
    assert problem.type_.endswith("/" + type_suffix)
    assert problem.detail == "x"
    assert problem.title


def test_validation_errors_become_per_field_errors() -> None:
    """Litestar's validation list becomes `errors` entries with field, message and source."""
    exc = ValidationException(detail="bad", extra=[{"key": "title", "message": "too long", "source": "body"}])
    problem = from_http_exception(exc)
    assert problem.status_code == 400
    assert problem.extra == {"errors": [{"field": "title", "message": "too long", "source": "body"}]}


def test_plain_http_exceptions_keep_their_status() -> None:
    """Framework errors such as an unknown route keep their status, as problem details."""
    problem = from_http_exception(NotFoundException())
    assert problem.status_code == 404
    assert problem.extra is None


def test_dependency_failures_are_503_with_retry_after() -> None:
    """A database or Redis failure that reaches the edge is a 503 the client may retry."""
    problem = from_unavailable_dependency(ConnectionRefusedError("refused"))
    assert problem.status_code == 503
    assert problem.headers == {"Retry-After": "1"}


def test_unexpected_errors_are_a_bare_500() -> None:
    """A bug answers 500 without echoing the exception's text to the client."""
    problem = from_unexpected(ValueError("secret internals"))
    assert problem.status_code == 500
    assert "secret" not in (problem.detail or "")
