"""Tenant tokens: random, URL-safe, and known to the service only by their SHA-256 hash (T1)."""

from __future__ import annotations

import hashlib
import re
import secrets

TOKEN_BYTES = 32
REDIS_KEY_PREFIX = "tenant:token:"
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}")
"""What `new_token` produces: 32 bytes in unpadded URL-safe base64."""


def new_token() -> str:
    """A fresh token: 32 random bytes, URL-safe base64 (43 characters)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    """The hex SHA-256 of `token`: the only form in which a token is ever stored."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def redis_key(token_hash: str) -> str:
    """The Redis key holding the tenant record for a token hash."""
    return REDIS_KEY_PREFIX + token_hash


def looks_like_token(candidate: str) -> bool:
    """Whether `candidate` has the shape of a token (checked before any lookup)."""
    return TOKEN_PATTERN.fullmatch(candidate) is not None
