"""Rewording of validation messages: known msgspec messages become plain rules; unknown ones pass unchanged."""

from __future__ import annotations

import pytest

from app.validation import explain


@pytest.mark.parametrize(("given", "expected"), [
    (("data", "'data'", "body"), ("body", "A JSON body is required.")),
    (("data", "Object missing required field `title`", "body"), ("title", "This field is required.")),
    (("owner", "Object missing required field `name`", "body"), ("owner.name", "This field is required.")),
    (("data", "`title` must not be blank", "body"), ("title", "Must not be blank.")),
    (("limit", "Expected `int`, got `str`", "query"), ("limit", "Must be an integer.")),
    (("title", "Expected `str`, got `null`", "body"), ("title", "Must be a string, not null.")),
    (("limit", "Expected `int` <= 200", "query"), ("limit", "Must be at most 200.")),
    (("slug", "Expected `str` matching regex '^[a-z]+$'", "body"), (
        "slug", "Does not have the required form (see this field's description in /schema).")),
])
def test_known_messages_are_reworded(given: tuple[str, str, str], expected: tuple[str, str]) -> None:
    """Each msgspec message shape the API can produce is turned into the field at fault and a plain rule."""
    assert explain(*given) == expected


def test_an_unknown_message_is_passed_on_unchanged() -> None:
    """A message no rule knows keeps its words (only `data` becomes `body`), so no rule can misexplain it."""
    assert explain("data", "Something new went wrong", "body") == ("body", "Something new went wrong")
    assert explain("limit", "Something new", "query") == ("limit", "Something new")
