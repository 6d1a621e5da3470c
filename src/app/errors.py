"""The error base and the one mapper that turns any failure into RFC 9457 problem+json.

Services raise `DomainError` subclasses and never HTTP types; routes never build error bodies.
Each domain declares its own errors next to its code (`app/items/errors.py`,
`app/tenants/errors.py`) under the bases here; the mapper knows only the bases.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import asyncpg
from litestar.exceptions import HTTPException
from litestar.plugins.problem_details import ProblemDetailsConfig, ProblemDetailsException
from loguru import logger
from redis.exceptions import RedisError

from app.validation import explain

PROBLEM_TYPE_BASE = "https://cobreja.dev/problems/"


class DomainError(Exception):
    """Base of every error a service raises on purpose; `status` says how HTTP sees it."""

    status: HTTPStatus = HTTPStatus.BAD_REQUEST
    slug: str = "bad-request"
    headers: dict[str, str] | None = None

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(DomainError):
    """A resource the caller asked for does not exist (for this tenant)."""

    status = HTTPStatus.NOT_FOUND
    slug = "not-found"


class Unauthenticated(DomainError):
    """No credential, or one that matches nothing; one body for every cause (no enumeration)."""

    status = HTTPStatus.UNAUTHORIZED
    slug = "unauthenticated"


UNAUTHENTICATED_DETAIL = "A valid X-TOKEN header is required."
"""The one detail of every tenant 401: missing, malformed, unknown, revoked, or a deleted tenant."""


class ServiceUnavailable(DomainError):
    """A dependency the request needs is down; the client may retry."""

    status = HTTPStatus.SERVICE_UNAVAILABLE
    slug = "service-unavailable"


def problem(
    status: int, detail: str, slug: str, extra: Mapping[str, Any] | None = None, headers: dict[str, str] | None = None
) -> ProblemDetailsException:
    """Build the problem+json exception for `status` with a stable `type` URI."""
    return ProblemDetailsException(
        status_code=status,
        title=HTTPStatus(status).phrase,
        detail=detail,
        type_=PROBLEM_TYPE_BASE + slug,
        extra=dict(extra) if extra else None,
        headers=headers,
    )


def from_domain_error(exc: DomainError) -> ProblemDetailsException:
    """Map a service's error to its problem."""
    return problem(exc.status, exc.detail, exc.slug, headers=exc.headers)


def from_http_exception(exc: HTTPException) -> ProblemDetailsException:
    """Map Litestar's own exceptions (validation, 404 route, 405, 413 ...) to problems.

    Validation failures carry Litestar's per-field list in `extra`; it becomes `errors`.
    """
    status = exc.status_code
    extra = {"errors": _field_errors(exc.extra)} if isinstance(exc.extra, list) else None
    slug = "validation-error" if extra else HTTPStatus(status).phrase.lower().replace(" ", "-")
    detail = "The request is not valid; see `errors`." if extra else exc.detail
    return problem(status, detail, slug, extra, headers=exc.headers)


def _field_errors(raw: list[Any]) -> list[dict[str, Any]]:
    """Normalise Litestar's validation entries to `{field, message, source}`, worded for the client."""
    errors = []
    for entry in raw:
        if isinstance(entry, Mapping):
            raw_source = entry.get("source", "body")
            source = str(getattr(raw_source, "value", raw_source))  # Litestar gives query/path as a ParamType
            field, message = explain(str(entry.get("key") or "body"), str(entry.get("message", "")), source)
            errors.append({"field": field, "message": message, "source": source})
        else:
            errors.append({"field": "body", "message": str(entry), "source": "body"})
    return errors


def from_unavailable_dependency(exc: Exception) -> ProblemDetailsException:
    """A database or Redis failure that reached the edge: 503, logged without secrets."""
    logger.warning("dependency unavailable: {}: {}", type(exc).__name__, exc)
    return problem(
        503,
        "A dependency of the service is unavailable; retry shortly.",
        "service-unavailable",
        headers={"Retry-After": "1"},
    )


def from_unexpected(exc: Exception) -> ProblemDetailsException:
    """Anything else is a bug: log it with its traceback, answer a bare 500 (no stack trace)."""
    logger.opt(exception=exc).error("unhandled error")
    return problem(500, "An unexpected error occurred.", "internal-error")


UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,  # asyncpg's state error on a connection whose backend just died
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.CannotConnectNowError,
    asyncpg.exceptions.OperatorInterventionError,  # admin/crash shutdown, cannot connect now, cancelled
    asyncpg.TooManyConnectionsError,
    ConnectionError,
    TimeoutError,
    OSError,
    RedisError,
)


def from_data_error(exc: asyncpg.DataError) -> ProblemDetailsException:
    """Input PostgreSQL refused as data (out of range, bad encoding) is the client's error, not a 500."""
    logger.info("database refused request data: {}", type(exc).__name__)
    return problem(400, "A value in the request cannot be stored.", "invalid-value")


def problem_details_config() -> ProblemDetailsConfig:
    """The one mapping from exception type to problem, installed by `create_app`."""
    mapping: dict[type[Exception], Any] = {
        HTTPException: from_http_exception,
        DomainError: from_domain_error,
        asyncpg.DataError: from_data_error,
        Exception: from_unexpected,
    }
    mapping.update(dict.fromkeys(UNAVAILABLE_ERRORS, from_unavailable_dependency))
    return ProblemDetailsConfig(exception_to_problem_detail_map=mapping)
