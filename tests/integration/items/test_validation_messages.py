"""Validation errors name the field at fault and say what it must be, in words, not msgspec internals."""

from __future__ import annotations

import httpx
import pytest

from tests.support.problems import assert_problem
from tests.support.tenants import Tenant

JSON = {"Content-Type": "application/json"}


def only_error(response: httpx.Response) -> dict[str, str]:
    """The one entry of a 400 validation problem's `errors`."""
    body = assert_problem(response, 400)
    assert len(body["errors"]) == 1, body
    entry: dict[str, str] = body["errors"][0]
    assert "regex" not in entry["message"], entry
    assert "Expected `" not in entry["message"], entry
    return entry


@pytest.mark.parametrize(("body", "field", "message"), [
    (b"", "body", "A JSON body is required."),
    (b"{}", "title", "This field is required."),
    (b'{"title": "   "}', "title", "Must not be blank."),
    (b'{"title": "a\\u0000b"}', "title", "Must not contain NUL characters."),
    (b'{"title": "' + b"a" * 201 + b'"}', "title", "Must be at most 200 characters (after trimming spaces)."),
    (b'{"title": "x", "bogus": 1}', "bogus", "Unknown field: the accepted fields are listed in /schema."),
    (b'{"title": 5}', "title", "Must be a string, not an integer."),
    (b"[]", "body", "Must be a JSON object, not a JSON array."),
    (b'{"title": "x", "description": "' + b"d" * 5001 + b'"}', "description", "Must be at most 5000 characters."),
], ids=["empty", "missing-title", "blank", "nul", "too-long", "unknown", "wrong-type", "array", "long-description"])
async def test_body_errors_name_the_field_and_the_rule(client: httpx.AsyncClient, tenant: Tenant, body: bytes,
                                                       field: str, message: str) -> None:
    """POST /items with a faulty body → one error whose `field` is the field at fault and whose message says why."""
    entry = only_error(await client.post("/items", content=body, headers={**tenant.headers, **JSON}))
    assert (entry["field"], entry["message"], entry["source"]) == (field, message, "body")


@pytest.mark.parametrize(("query", "field", "message"), [
    ("limit=1.5", "limit", "Must be an integer."),
    ("limit=abc", "limit", "Must be an integer."),
    ("limit=0", "limit", "Must be at least 1."),
    ("limit=1000", "limit", "Must be at most 200."),
    ("offset=-1", "offset", "Must be at least 0."),
])
async def test_query_errors_say_what_the_value_must_be(client: httpx.AsyncClient, tenant: Tenant, query: str,
                                                       field: str, message: str) -> None:
    """GET /items?<bad query> → the parameter named, with `source` "query" and a message without "got `str`"."""
    entry = only_error(await client.get(f"/items?{query}", headers=tenant.headers))
    assert (entry["field"], entry["message"], entry["source"]) == (field, message, "query")


async def test_a_title_is_measured_after_trimming(client: httpx.AsyncClient, tenant: Tenant) -> None:
    """200 characters with spaces around them are a valid title (stored trimmed); the limit counts what is kept."""
    title = "t" * 200
    response = await client.post("/items", json={"title": f"  {title}   "}, headers=tenant.headers)
    assert response.status_code == 201, response.text
    assert response.json()["title"] == title


async def test_a_patch_checks_the_same_rules(client: httpx.AsyncClient, tenant: Tenant) -> None:
    """PATCH with a blank title → the same field and message as POST."""
    created = await client.post("/items", json={"title": "to patch"}, headers=tenant.headers)
    response = await client.patch(created.headers["location"], json={"title": " "}, headers=tenant.headers)
    assert only_error(response)["message"] == "Must not be blank."


async def test_an_oversized_body_is_413_stating_the_limit(client: httpx.AsyncClient, tenant: Tenant) -> None:
    """A body over MAX_REQUEST_BODY_BYTES → 413 problem whose detail gives the limit in bytes."""
    limit = client._transport.app.state.settings.max_request_body_bytes  # type: ignore[attr-defined]
    body = b'{"title": "' + b"a" * (limit + 1) + b'"}'
    problem = assert_problem(await client.post("/items", content=body, headers={**tenant.headers, **JSON}), 413)
    assert f"{limit} bytes" in problem["detail"]
