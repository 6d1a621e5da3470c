"""Token records as the tests' servers seal them in Redis (app.tenants.record_auth), for reading and forging."""

from __future__ import annotations

from app.tenants.record_auth import RecordSigner, record_keys
from tests.support.tenants import ADMIN_KEY

SIGNER = RecordSigner(record_keys("", ADMIN_KEY))
"""The signer of every app the tests start (key derived from the tests' admin key)."""


def payload(raw: bytes | None) -> bytes | None:
    """The payload of a sealed value (record JSON or `revoked`), without checking its seal; None stays None."""
    return None if raw is None else raw.split(b".", 3)[-1]
