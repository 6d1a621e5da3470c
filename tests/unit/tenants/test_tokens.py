"""Tokens (T1): random, long, URL-safe, and stored only as SHA-256 hex."""

from __future__ import annotations

import base64
import hashlib
import re

from app.tenants.tokens import hash_token, looks_like_token, new_token, redis_key


def test_tokens_are_32_random_bytes_url_safe() -> None:
    """A token decodes to at least 32 bytes and uses only URL-safe characters."""
    token = new_token()
    assert re.fullmatch(r"[A-Za-z0-9_-]+", token)
    assert len(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))) >= 32


def test_tokens_do_not_repeat() -> None:
    """Ten thousand tokens are all distinct."""
    assert len({new_token() for _ in range(10_000)}) == 10_000


def test_hash_is_sha256_hex_and_never_the_token() -> None:
    """The stored form is the SHA-256 hex digest; the key embeds the hash, not the token."""
    token = new_token()
    digest = hash_token(token)
    assert digest == hashlib.sha256(token.encode()).hexdigest()
    assert token not in digest
    assert redis_key(digest) == f"tenant:token:{digest}"
    assert token not in redis_key(digest)


def test_hash_accepts_any_header_text() -> None:
    """Odd header text (non-ASCII, lone surrogates) hashes instead of raising."""
    assert len(hash_token("é\udcff")) == 64


def test_only_token_shaped_strings_pass_the_shape_check() -> None:
    """Fresh tokens pass; short, long and non-URL-safe strings are refused before any lookup."""
    assert looks_like_token(new_token())
    for bad in ["", "x" * 42, "x" * 44, "a" * 42 + "=", "a" * 42 + "é", "a" * 42 + "\n"]:
        assert not looks_like_token(bad)
