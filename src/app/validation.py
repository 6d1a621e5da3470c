"""Validation messages a client can act on, from the terse ones msgspec and Litestar produce.

msgspec says ``Expected `int`, got `str` `` for `?limit=1.5` (every query value is a string),
reports a missing or unknown field under the body (`data`) instead of the field, and quotes the
raw regex of a pattern. This module names the field and says what the field must be; a message
it does not know is passed on unchanged (so a new rule never turns into a wrong explanation).
"""

from __future__ import annotations

import re
from collections.abc import Callable

TYPE_NAMES = {"int": "an integer", "float": "a number", "str": "a string", "bool": "true or false",
              "object": "a JSON object", "array": "a JSON array", "null": "null", "uuid": "a UUID"}
BODY = "body"
"""The field name of the request body as a whole."""

Explain = Callable[[re.Match[str], str], tuple[str, str]]
"""(match, field) → (field, message)."""


def _type_name(name: str) -> str:
    return TYPE_NAMES.get(name, f"`{name}`")


def _child(field: str, name: str) -> str:
    """`name` inside `field` (the body itself is left out of the path)."""
    return name if field in (BODY, "data", "") else f"{field}.{name}"


RULES: list[tuple[re.Pattern[str], Explain]] = [
    (re.compile(r"^Object missing required field `(?P<name>[^`]+)`$"),
     lambda m, field: (_child(field, m["name"]), "This field is required.")),
    (re.compile(r"^Object contains unknown field `(?P<name>[^`]+)`$"),
     lambda m, field: (_child(field, m["name"]), "Unknown field: the accepted fields are listed in /schema.")),
    (re.compile(r"^`(?P<name>[^`]+)` (?P<rest>.+)$"),  # our own checks (__post_init__): "`title` must not ..."
     lambda m, field: (_child(field, m["name"]), m["rest"][0].upper() + m["rest"][1:].rstrip(".") + ".")),
    (re.compile(r"^Expected `(?P<want>\w+)`, got `(?P<got>\w+)`$"),
     lambda m, field: (field, f"Must be {_type_name(m['want'])}, not {_type_name(m['got'])}.")),
    (re.compile(r"^Expected `(?:int|float)` (?P<op>>=|<=|>|<) (?P<bound>\S+)$"),
     lambda m, field: (field, {">=": "Must be at least {}.", "<=": "Must be at most {}.",
                               ">": "Must be greater than {}.", "<": "Must be less than {}."}[m["op"]]
                       .format(m["bound"]))),
    (re.compile(r"^Expected `str` of length (?P<op><=|>=) (?P<bound>\d+)$"),
     lambda m, field: (field, ("Must be at most {} characters." if m["op"] == "<=" else
                               "Must be at least {} characters.").format(m["bound"]))),
    (re.compile(r"^Expected `str` matching regex .*$"),
     lambda _m, field: (field, "Does not have the required form (see this field's description in /schema).")),
    (re.compile(r"^Invalid enum value (?P<value>.+)$"),
     lambda m, field: (field, f"{m['value']} is not one of the allowed values (listed in /schema).")),
]


def explain(field: str, message: str, source: str) -> tuple[str, str]:
    """The field a validation error is about and a message saying what it must be.

    A missing body arrives as msgspec's KeyError text (`'data'`); a query value is always sent as a
    string, so "got `str`" there means "could not be read as".
    """
    if field == "data" and message == "'data'":
        return BODY, "A JSON body is required."
    if source == "query":
        wrong_type = re.fullmatch(r"Expected `(?P<want>\w+)`, got `str`", message)
        if wrong_type:
            return field, f"Must be {_type_name(wrong_type['want'])}."
    for pattern, rewrite in RULES:
        matched = pattern.match(message)
        if matched:
            named, explained = rewrite(matched, field)
            return (BODY if named == "data" else named), explained
    return (BODY if field == "data" else field), message
