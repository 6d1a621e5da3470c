"""Who may read the monitoring pages and the detailed health report: the admin key, or the monitoring password.

Operators use `X-ADMIN-KEY` from scripts; a browser cannot send that header when a person opens
the page, so HTTP basic auth with `MONITORING_PASSWORD` (any user name) is accepted too. Every
refusal carries a `WWW-Authenticate: Basic` challenge, so the browser asks for the password.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from http import HTTPStatus
from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from app.errors import Unauthenticated
from app.tenants import has_admin_key

CHALLENGE = 'Basic realm="Cobreja monitoring", charset="UTF-8"'


class MonitoringCredentialsRequired(Unauthenticated):
    """Neither the admin key nor the monitoring password was given."""

    status = HTTPStatus.UNAUTHORIZED
    headers = {"WWW-Authenticate": CHALLENGE}  # noqa: RUF012  (a constant of the class, never mutated)


def basic_password(authorization: str) -> str | None:
    """The password of an `Authorization: Basic ...` value; None if it is not a well-formed one."""
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    _user, colon, password = decoded.partition(":")
    return password if colon else None


def has_monitoring_password(connection: ASGIConnection[Any, Any, Any, Any]) -> bool:
    """Whether the request gives MONITORING_PASSWORD by basic auth (never, while it is unset)."""
    expected: str = connection.app.state.settings.monitoring_password
    given = basic_password(connection.headers.get("authorization", ""))
    return bool(expected) and given is not None and hmac.compare_digest(given.encode(), expected.encode())


def monitoring_guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Allow the admin key or the monitoring password; refuse with a basic-auth challenge otherwise."""
    if not (has_admin_key(connection) or has_monitoring_password(connection)):
        raise MonitoringCredentialsRequired(
            "Monitoring needs the X-ADMIN-KEY header or HTTP basic auth with MONITORING_PASSWORD.")
