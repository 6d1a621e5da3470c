"""Authenticated token records (T1): Redis cannot grant what the registry did not.

Every value under `tenant:token:<sha256>` is sealed as `v2.<fresh until>.<mac>.<payload>`, where
`payload` is the record (`{"slug", "status"}` as JSON) or the tombstone `revoked`, `fresh until`
a Unix time, and `mac` the hex HMAC-SHA256, under a server-side key, of `v2`, the token hash, the
time and the payload (joined by newlines). Binding the token hash stops a genuine record being
copied under the hash of a token never issued; covering the payload stops a suspended tenant
being rewritten as active. The time bounds *replay*: someone who can write Redis could put back
an older genuine value of the same hash (the tenant's record from before its suspension, or a
record over a tombstone), and nothing in the value alone tells it is old. A record past its time
is genuine but stale: the registry is asked, and the record re-sealed (REDIS_TOKEN_TTL_SECONDS
after sealing), so a replayed or out-of-order value is believed for at most that long. Nothing
else is stored: the schema is always derived from the slug (`app.tenants.naming.schema_for`),
never read from Redis.

Keys come from REDIS_RECORD_KEYS (comma-separated; the first signs, every one verifies, so a key
is rotated by putting the new one first and dropping the old one once every record was re-signed,
see app.tenants.completeness), or, when that is empty, from ADMIN_API_KEY
(HMAC(admin key, "cobreja redis records v1")). A process with neither key cannot sign: it leaves
its writes in the outbox for a server to pay, and never reads Redis.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Sequence
from typing import Final, NamedTuple

DERIVATION_CONTEXT: Final = b"cobreja redis records v1"
VERSION: Final = b"v2"
MARK_CONTEXT: Final = b"cobreja tokens complete v1"
_MAC_HEX_LENGTH: Final = 64


def record_keys(redis_record_keys: str, admin_api_key: str) -> list[bytes]:
    """The record keys, signing key first: REDIS_RECORD_KEYS, else one derived from ADMIN_API_KEY, else none."""
    keys = [key.strip().encode() for key in redis_record_keys.split(",") if key.strip()]
    if keys:
        return keys
    if admin_api_key:
        return [hmac.new(admin_api_key.encode(), DERIVATION_CONTEXT, hashlib.sha256).digest()]
    return []


class Opened(NamedTuple):
    """A value that a key authenticated."""

    payload: bytes
    by_signing_key: bool
    """Sealed by the first key (else by an older one, to be re-sealed)."""
    fresh: bool
    """Still within its time (else genuine but stale: ask the registry)."""


class RecordSigner:
    """Seals values for Redis under the first key and opens values sealed under any of the keys."""

    def __init__(self, keys: Sequence[bytes], fresh_seconds: float = 300.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.keys = list(keys)
        self.fresh_seconds = fresh_seconds
        self.clock = clock
        self.mark = b"" if not self.keys else (
            VERSION + b"." + hmac.new(self.keys[0], MARK_CONTEXT, hashlib.sha256).hexdigest()[:32].encode()
        )
        """The completeness mark of the signing key: a reload under another key leaves another mark."""

    @property
    def can_sign(self) -> bool:
        """Whether this process holds a key at all."""
        return bool(self.keys)

    def seal(self, token_hash: str, payload: bytes) -> bytes:
        """`payload` as stored under `token_hash`: version, fresh-until time, MAC under the signing key, payload."""
        until = str(int(self.clock() + self.fresh_seconds)).encode()
        return VERSION + b"." + until + b"." + _mac(self.keys[0], token_hash, until, payload) + b"." + payload

    def open(self, token_hash: str, sealed: bytes) -> Opened | None:
        """The payload, if a key authenticates `sealed` for this hash, else None.

        Every key is tried and compared in constant time; a wrong version, shape or MAC is None.
        """
        version, _, rest = sealed.partition(b".")
        until, _, rest = rest.partition(b".")
        given, dot, payload = rest.partition(b".")
        if version != VERSION or not dot or len(given) != _MAC_HEX_LENGTH or not until.isdigit():
            return None
        for position, key in enumerate(self.keys):
            if hmac.compare_digest(_mac(key, token_hash, until, payload), given):
                return Opened(payload, position == 0, int(until) >= self.clock())
        return None


def _mac(key: bytes, token_hash: str, until: bytes, payload: bytes) -> bytes:
    message = VERSION + b"\n" + token_hash.encode() + b"\n" + until + b"\n" + payload
    return hmac.new(key, message, hashlib.sha256).hexdigest().encode()
