"""The OpenAPI document as client generators read it: idiomatic operation ids, problem+json for every error."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest


@pytest.fixture(scope="module")
async def document(client: httpx.AsyncClient) -> dict[str, Any]:
    """The app's OpenAPI document."""
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, operation) for every operation of the document."""
    return [(method.upper(), path, operation) for path, item in document["paths"].items()
            for method, operation in item.items()]


def test_operation_ids_are_camel_case_names_of_what_they_do(document: dict[str, Any]) -> None:
    """Every operation id is unique and camelCase (`suspendTenant`, not `AdminTenantsSlugSuspendSuspendTenant`)."""
    ids = {f"{method} {path}": operation["operationId"] for method, path, operation in operations(document)}
    assert len(set(ids.values())) == len(ids), ids
    assert all(re.fullmatch(r"[a-z]+(?:[A-Z][a-z]+)*", name) for name in ids.values()), ids
    assert ids["GET /items"] == "listItems"
    assert ids["POST /items"] == "createItem"
    assert ids["POST /admin/tenants/{slug}/suspend"] == "suspendTenant"
    assert ids["GET /health"] == "getLiveness"


def test_every_error_response_is_a_problem(document: dict[str, Any]) -> None:
    """Every documented 4xx/5xx of every operation is `application/problem+json` with the `Problem` schema.

    Litestar's default 400 (`application/json`, "Validation Exception") is nowhere left: the API never answers it.
    """
    wrong = []
    for method, path, operation in operations(document):
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                content = response.get("content", {})
                schema = content.get("application/problem+json", {}).get("schema", {})
                if list(content) != ["application/problem+json"] or not schema.get("$ref", "").endswith("/Problem"):
                    wrong.append(f"{method} {path} {status}: {content}")
    assert not wrong, "\n".join(wrong)


def test_response_headers_are_documented(document: dict[str, Any]) -> None:
    """`Location` on the 201 of POST /items; `X-Trace-Id` and `X-Request-Id` on every success response."""
    created = document["paths"]["/items"]["post"]["responses"]["201"]["headers"]
    assert "Location" in created
    for method, path, operation in operations(document):
        for status, response in operation["responses"].items():
            if status.startswith("2"):
                assert {"X-Trace-Id", "X-Request-Id"} <= set(response.get("headers", {})), f"{method} {path} {status}"


def test_retry_after_is_documented_on_429_and_503(document: dict[str, Any]) -> None:
    """Every documented 429 and 503 names the `Retry-After` header the service sends with them."""
    missing = [f"{method} {path} {status}" for method, path, operation in operations(document)
               for status, response in operation["responses"].items()
               if status in ("429", "503") and "Retry-After" not in response.get("headers", {})]
    assert not missing, missing
    assert any(status == "429" for _, _, op in operations(document) for status in op["responses"])
