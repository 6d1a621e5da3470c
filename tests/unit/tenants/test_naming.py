"""Slug and schema-name validation (T4): only safe names reach SQL, and they are quoted anyway."""

from __future__ import annotations

import pytest

from app.db import quote_ident
from app.tenants.errors import InvalidSlug
from app.tenants.naming import MAX_SLUG_LENGTH, SCHEMA_PATTERN, schema_for, validate_slug


@pytest.mark.parametrize("slug", ["a", "acme", "acme_2", "a1_b2", "x" * MAX_SLUG_LENGTH])
def test_valid_slugs_map_to_tenant_schemas(slug: str) -> None:
    """A valid slug becomes `tenant_<slug>`, which matches the schema pattern."""
    schema = schema_for(slug)
    assert schema == f"tenant_{slug}"
    assert SCHEMA_PATTERN.fullmatch(schema)


@pytest.mark.parametrize(
    "slug",
    [
        "",
        "Acme",
        "1acme",
        "_acme",
        "ac-me",
        "ac me",
        "acmé",
        "x" * (MAX_SLUG_LENGTH + 1),
        'a"; DROP SCHEMA cobreja CASCADE; --',
        "a'; DROP TABLE item; --",
        "a\x00b",
        "a\nb",
        "template",
        "public",
        "cobreja",
        "information_schema",
        "pg_catalog",
        "pg_x",
        "../etc",
        "a;b",
    ],
)
def test_invalid_slugs_are_refused_with_a_clear_message(slug: str) -> None:
    """Upper case, leading digits, punctuation, injection attempts, reserved and over-long slugs fail."""
    with pytest.raises(InvalidSlug) as caught:
        schema_for(slug)
    assert caught.value.detail
    assert caught.value.status == 422


@pytest.mark.parametrize("slug", ["public", "pg_temp", "information_schema", "cobreja", "template"])
def test_reserved_slugs_say_they_are_reserved(slug: str) -> None:
    """A reserved name is refused as reserved (not as malformed), so the operator knows to pick another."""
    with pytest.raises(InvalidSlug, match="reserved"):
        validate_slug(slug)


def test_validate_slug_returns_the_slug_unchanged() -> None:
    """Validation never normalises silently: what is stored is what was asked for."""
    assert validate_slug("acme") == "acme"


@pytest.mark.parametrize(
    ("name", "quoted"), [("tenant_a", '"tenant_a"'), ('we"ird', '"we""ird"'), ("", '""')]
)
def test_quote_ident_doubles_quotes(name: str, quoted: str) -> None:
    """Identifiers are always quoted, embedded quotes doubled (the second belt after validation)."""
    assert quote_ident(name) == quoted
