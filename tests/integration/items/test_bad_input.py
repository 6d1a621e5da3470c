"""R3: bad input never yields a 500, and every refusal is a well-formed problem+json.

Every 4xx body must be RFC 9457 `application/problem+json` with `type`, `title`, `status` and
`detail`; validation failures add `errors`, a list of `{field, message, source}`. Most cases run
through the in-process app (`client`); raw-bytes headers and request framing that only a real
HTTP server sees go through `live_server` on a plain socket.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import asyncpg
import httpx
import pytest
from litestar import Litestar

from app.settings import Settings
from tests.support.problems import assert_problem
from tests.support.raw_http import raw_get, raw_problem, raw_request
from tests.support.servers import LiveServer
from tests.support.tenants import ADMIN_KEY, Tenant, make_tenant

Client = httpx.AsyncClient
JSON = "application/json"


# ---------------------------------------------------------------------------------------------
# helpers and fixtures


def assert_validation(response: httpx.Response, mention: str, source: str) -> list[dict[str, str]]:
    """A 400/422 validation problem whose `errors` name `mention` (as field or in a message)."""
    body = assert_problem(response, 400, 422)
    errors = body.get("errors")
    assert isinstance(errors, list), body
    assert errors, body
    for entry in errors:
        assert set(entry) == {"field", "message", "source"}, entry
        assert all(isinstance(value, str) and value for value in entry.values()), entry
    assert any(entry["source"] == source for entry in errors), errors
    assert any(entry["field"] == mention or mention in entry["message"] for entry in errors), errors
    return list(errors)


async def registry_state(pg: asyncpg.Connection) -> tuple[int, int]:
    """(tenant rows in the registry, schemas in the database): what a refused create must not change."""
    tenants = await pg.fetchval("SELECT count(*) FROM cobreja.tenant")
    schemas = await pg.fetchval("SELECT count(*) FROM pg_namespace")
    return int(tenants), int(schemas)


@pytest.fixture(scope="module")
async def shared(client: Client) -> Tenant:
    """One tenant for the whole module: refused requests must not write anything anyway."""
    return await make_tenant(client, prefix="bad")


@pytest.fixture(scope="module")
async def item(client: Client, shared: Tenant) -> dict[str, Any]:
    """An item of `shared`, the target of refused PUT/PATCH/DELETE requests."""
    response = await client.post("/items", json={"title": "bad-input target"}, headers=shared.headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def unchanged(client: Client, shared: Tenant, item: dict[str, Any]) -> None:
    """The target item is exactly as created: a refused write changed nothing."""
    response = await client.get(f"/items/{item['id']}", headers=shared.headers)
    assert response.status_code == 200, response.text
    assert response.json() == item


# ---------------------------------------------------------------------------------------------
# request bodies

MALFORMED_BODIES = [
    pytest.param(b"{bad", id="not-json"),
    pytest.param(b'{"title": "a"', id="truncated-object"),
    pytest.param(b"{'title': 'a'}", id="single-quotes"),
    pytest.param(b'{"title": "a"} {"title": "b"}', id="trailing-data"),
    pytest.param(b'{"title": "a",}', id="trailing-comma"),
    pytest.param(b"", id="empty-body"),
    pytest.param(b"   ", id="whitespace-body"),
    pytest.param(b'{"title": NaN}', id="nan"),
    pytest.param(b'{"title": "a", "status": 1e400}', id="number-out-of-range"),
    pytest.param(b'{"title": "\\ud800"}', id="lone-surrogate-escape"),
    pytest.param(b"\x00\x01\x02", id="binary"),
    pytest.param(b'{"title": "\xff\xfe"}', id="invalid-utf8"),
    pytest.param(
        '{"title": "é"}'.encode("latin-1"), id="latin1-body"
    ),
    pytest.param(
        b'{"title": "a", "description": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        id="nested-100k-deep",
    ),
]


@pytest.mark.parametrize("body", MALFORMED_BODIES)
@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
async def test_malformed_json_body_is_400(
    client: Client, shared: Tenant, item: dict[str, Any], method: str, body: bytes
) -> None:
    """A body that is not valid JSON (or not UTF-8, or absurdly nested) is a 400 problem, never a 500."""
    url = "/items" if method == "POST" else f"/items/{item['id']}"
    response = await client.request(method, url, content=body, headers={**shared.headers, "content-type": JSON})
    assert_problem(response, 400, 422)
    await unchanged(client, shared, item)


@pytest.mark.parametrize("body", [[{"title": "a"}], "a title", 5, 1.5, True, None], ids=repr)
@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
async def test_body_that_is_not_an_object_is_400(
    client: Client, shared: Tenant, item: dict[str, Any], method: str, body: object
) -> None:
    """A JSON array, string, number, boolean or null where an object belongs is a validation error."""
    url = "/items" if method == "POST" else f"/items/{item['id']}"
    content = json.dumps(body).encode()
    response = await client.request(method, url, content=content, headers={**shared.headers, "content-type": JSON})
    errors = assert_validation(response, "object", source="body")
    assert any("object" in entry["message"] for entry in errors), errors
    await unchanged(client, shared, item)


# (body, the field the error must name) for POST and PUT (whole item)
BAD_ITEMS = [
    pytest.param({"title": 123}, "title", id="title-int"),
    pytest.param({"title": None}, "title", id="title-null"),
    pytest.param({"title": ["a"]}, "title", id="title-list"),
    pytest.param({"title": {"x": 1}}, "title", id="title-object"),
    pytest.param({"title": ""}, "title", id="title-empty"),
    pytest.param({"title": "   "}, "title", id="title-blank"),
    pytest.param({"title": "\t\n "}, "title", id="title-whitespace"),
    pytest.param({"title": "x" * 201}, "title", id="title-201-chars"),
    pytest.param({"title": "x" * 100_000}, "title", id="title-100k-chars"),
    pytest.param({"title": "a", "description": "d" * 5001}, "description", id="description-5001-chars"),
    pytest.param({"title": "a", "description": 5}, "description", id="description-int"),
    pytest.param({"title": "a", "status": "bogus"}, "status", id="status-bogus"),
    pytest.param({"title": "a", "status": "DONE"}, "status", id="status-wrong-case"),
    pytest.param({"title": "a", "status": ""}, "status", id="status-empty"),
    pytest.param({"title": "a", "status": 1}, "status", id="status-int"),
    pytest.param({"title": "a", "status": None}, "status", id="status-null"),
    pytest.param({"title": "a", "zzz": 1}, "zzz", id="unknown-field"),
    pytest.param({"title": "a", "id": str(uuid.uuid4())}, "id", id="client-id"),
    pytest.param({"title": "a", "created_at": "2020-01-01T00:00:00Z"}, "created_at", id="client-created-at"),
    pytest.param({}, "title", id="title-missing"),
    pytest.param({"description": "only"}, "title", id="only-description"),
    pytest.param({"title": "a\x00b"}, "title", id="title-nul"),
    pytest.param(
        {"title": "a", "description": "x\x00"},
        "description",
        id="description-nul",
    ),
]


@pytest.mark.parametrize(("body", "field"), BAD_ITEMS)
async def test_create_with_bad_fields_is_400_per_field(
    client: Client, shared: Tenant, body: dict[str, Any], field: str
) -> None:
    """POST /items with a wrong type, bad length, bad enum or unknown field names the field; nothing is created."""
    before = (await client.get("/items", headers=shared.headers)).json()["total"]
    response = await client.post("/items", json=body, headers=shared.headers)
    assert_validation(response, field, source="body")
    after = (await client.get("/items", headers=shared.headers)).json()["total"]
    assert after == before


@pytest.mark.parametrize(("body", "field"), BAD_ITEMS)
async def test_replace_with_bad_fields_is_400_per_field(
    client: Client, shared: Tenant, item: dict[str, Any], body: dict[str, Any], field: str
) -> None:
    """PUT /items/{id} with a bad body is a per-field 400 and leaves the item untouched."""
    response = await client.put(f"/items/{item['id']}", json=body, headers=shared.headers)
    assert_validation(response, field, source="body")
    await unchanged(client, shared, item)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        param
        for param in BAD_ITEMS
        if param.id not in {"title-missing", "only-description"}  # a partial body may omit the title
    ]
    + [pytest.param({"description": 5}, "description", id="description-int-alone")],
)
async def test_patch_with_bad_fields_is_400_per_field(
    client: Client, shared: Tenant, item: dict[str, Any], body: dict[str, Any], field: str
) -> None:
    """PATCH /items/{id} with a bad field is a per-field 400 and leaves the item untouched."""
    response = await client.patch(f"/items/{item['id']}", json=body, headers=shared.headers)
    assert_validation(response, field, source="body")
    await unchanged(client, shared, item)


async def test_boundary_values_are_accepted(client: Client, shared: Tenant) -> None:
    """The limits themselves are valid: 200-char title, 5000-char description, trimmed title, unicode."""
    for body in (
        {"title": "t" * 200, "description": "d" * 5000, "status": "in_progress"},
        {"title": "  padded  "},
        {"title": "日本語 ✓ émoji 🎉", "description": None},
    ):
        response = await client.post("/items", json=body, headers=shared.headers)
        assert response.status_code == 201, response.text
        assert response.json()["title"] == str(body["title"]).strip()


async def test_oversized_body_is_413(client: Client, shared: Tenant, settings: Settings) -> None:
    """A body one byte over MAX_REQUEST_BODY_BYTES is refused with a 413 problem before it is parsed."""
    limit = settings.max_request_body_bytes
    padding = limit + 1 - len(b'{"title": "a", "description": ""}')
    body = b'{"title": "a", "description": "' + b"d" * padding + b'"}'
    assert len(body) == limit + 1
    response = await client.post("/items", content=body, headers={**shared.headers, "content-type": JSON})
    assert_problem(response, 413)
    admin = await client.post("/admin/tenants", content=body, headers={"X-ADMIN-KEY": ADMIN_KEY, "content-type": JSON})
    assert_problem(admin, 413)


async def test_oversized_streamed_body_without_length_is_413(
    client: Client, shared: Tenant, settings: Settings
) -> None:
    """A chunked body with no Content-Length is cut off at the limit too (413), not buffered whole."""

    async def chunks() -> AsyncIterator[bytes]:
        sent = 0
        while sent <= settings.max_request_body_bytes:
            yield b"x" * 65536
            sent += 65536

    response = await client.post("/items", content=chunks(), headers={**shared.headers, "content-type": JSON})
    assert_problem(response, 413)


@pytest.mark.parametrize("length", [str(10**20), str(2**63)])
async def test_lying_huge_content_length_is_413(client: Client, shared: Tenant, length: str) -> None:
    """A Content-Length far beyond the limit is refused up front with 413."""
    headers = {**shared.headers, "content-type": JSON, "content-length": length}
    response = await client.post("/items", content=b"{}", headers=headers)
    assert_problem(response, 413)


async def test_oversized_body_is_413_through_uvicorn(live_server: LiveServer, settings: Settings) -> None:
    """Through the real server, a body just over the (default) limit gets the app's 413 problem, not a 500."""
    async with httpx.AsyncClient(base_url=live_server.base_url, timeout=30) as http:
        tenant = await make_tenant(http, prefix="big")
        body = b'{"title": "' + b"x" * (settings.max_request_body_bytes + 1024) + b'"}'
        response = await http.post("/items", content=body, headers={**tenant.headers, "content-type": JSON})
    assert_problem(response, 413)


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        pytest.param(b"title=a", "application/x-www-form-urlencoded", id="form-urlencoded"),
        pytest.param(
            b'--b\r\nContent-Disposition: form-data; name="title"\r\n\r\na\r\n--b--\r\n',
            "multipart/form-data; boundary=b",
            id="multipart",
        ),
        pytest.param(b"<item><title>a</title></item>", "application/xml", id="xml"),
        pytest.param(b"title: a", "application/yaml", id="yaml"),
    ],
)
async def test_non_json_body_is_4xx(client: Client, shared: Tenant, content: bytes, content_type: str) -> None:
    """Form data, multipart, XML or YAML instead of JSON is refused with a 4xx problem."""
    response = await client.post("/items", content=content, headers={**shared.headers, "content-type": content_type})
    assert_problem(response, 400, 415, 422)


@pytest.mark.parametrize("content_type", ["text/plain", "application/octet-stream", None])
async def test_json_under_a_wrong_content_type_is_not_a_500(
    client: Client, shared: Tenant, content_type: str | None
) -> None:
    """A JSON body labelled text/plain (or unlabelled) is either parsed leniently (201) or refused (415).

    Today the service is lenient: Litestar's JSONBody reads the bytes whatever the Content-Type.
    """
    headers = dict(shared.headers)
    if content_type:
        headers["content-type"] = content_type
    response = await client.post("/items", content=b'{"title": "typed"}', headers=headers)
    if response.status_code == 201:
        assert response.json()["title"] == "typed"
    else:
        assert_problem(response, 400, 415)


# ---------------------------------------------------------------------------------------------
# paths and query strings

BAD_IDS = [
    "not-a-uuid",
    "123",
    "0",
    "-1",
    "x" * 5000,
    "00000000-0000-0000-0000-00000000000g",
    str(uuid.UUID(int=0)) + "0",
    "%00",
    "%C3%A9",
    "%FF%FE",
    "..%2F..%2Fadmin%2Ftenants",
    quote("'; DROP TABLE item; --", safe=""),
]


@pytest.mark.parametrize("item_id", BAD_IDS, ids=lambda value: value[:40])
@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
async def test_malformed_item_id_is_404_or_400(client: Client, shared: Tenant, method: str, item_id: str) -> None:
    """Ids that are not UUIDs never reach the database: 404 or 400 problem, never a 500."""
    kwargs: dict[str, Any] = {"json": {"title": "a"}} if method in {"PUT", "PATCH"} else {}
    response = await client.request(method, f"/items/{item_id}", headers=shared.headers, **kwargs)
    assert_problem(response, 400, 404)


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
async def test_unknown_item_id_is_404(client: Client, shared: Tenant, method: str) -> None:
    """A well-formed UUID that names no item of the tenant is a 404 problem for every method."""
    kwargs: dict[str, Any] = {"json": {"title": "a"}} if method in {"PUT", "PATCH"} else {}
    response = await client.request(method, f"/items/{uuid.uuid4()}", headers=shared.headers, **kwargs)
    assert_problem(response, 404)


BAD_QUERIES = [
    pytest.param("limit", str(10**30), id="limit-huge"),
    pytest.param("limit", str(2**63), id="limit-int64-overflow"),
    pytest.param("limit", "201", id="limit-over-max"),
    pytest.param("limit", "-1", id="limit-negative"),
    pytest.param("limit", "0", id="limit-zero"),
    pytest.param("limit", "abc", id="limit-text"),
    pytest.param("limit", "1.5", id="limit-float"),
    pytest.param("limit", "", id="limit-empty"),
    pytest.param("limit", "\x00", id="limit-nul"),
    pytest.param("limit", "٣", id="limit-arabic-digit"),
    pytest.param("offset", str(10**30), id="offset-huge"),
    pytest.param("offset", str(2**31), id="offset-over-int32"),
    pytest.param("offset", "-1", id="offset-negative"),
    pytest.param("offset", "x", id="offset-text"),
    pytest.param("status", "bogus", id="status-unknown"),
    pytest.param("status", "DONE", id="status-wrong-case"),
    pytest.param("status", "", id="status-empty"),
    pytest.param("status", "done' OR '1'='1", id="status-injection"),
]


@pytest.mark.parametrize(("name", "value"), BAD_QUERIES)
async def test_bad_list_query_is_400_naming_the_parameter(
    client: Client, shared: Tenant, name: str, value: str
) -> None:
    """GET /items with an out-of-range, non-numeric or unknown query value is a 400 naming that parameter."""
    response = await client.get("/items", params={name: value}, headers=shared.headers)
    errors = assert_validation(response, name, source="query")
    assert any(entry["field"] == name for entry in errors), errors


@pytest.mark.parametrize(
    "query",
    ["limit=200", "offset=2147483647", "limit=1&limit=2", "status=done&status=pending", "unknown=1"],
)
async def test_edge_queries_that_are_valid_answer_200(client: Client, shared: Tenant, query: str) -> None:
    """Limits at the maximum, a repeated parameter or an unknown parameter are served, not crashed on."""
    response = await client.get(f"/items?{query}", headers=shared.headers)
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"items", "total", "limit", "offset"}


# ---------------------------------------------------------------------------------------------
# credentials


async def missing_token_body(client: Client) -> dict[str, Any]:
    """The 401 body of a request with no X-TOKEN at all (every other failure must look the same)."""
    return assert_problem(await client.get("/items"), 401)


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("", id="empty"),
        pytest.param("   ", id="spaces"),
        pytest.param("a" * 10_240, id="10KB"),
        pytest.param("a" * 1_000_000, id="1MB"),
        pytest.param("é".encode("latin-1") * 40, id="latin1-bytes"),
        pytest.param(b"\xff\xfe\x80" * 20, id="non-utf8-bytes"),
        pytest.param("\x00", id="nul"),
        pytest.param("null", id="word-null"),
        pytest.param("' OR '1'='1", id="sql-injection"),
        pytest.param("tenant:token:*", id="redis-glob"),
        pytest.param(ADMIN_KEY, id="admin-key-as-token"),
    ],
)
async def test_odd_x_token_is_401_indistinguishable(client: Client, token: str | bytes) -> None:
    """Empty, huge, non-ASCII or hostile X-TOKEN values are a 401 with the same body as a missing token."""
    response = await client.get("/items", headers={"X-TOKEN": token})
    assert assert_problem(response, 401) == await missing_token_body(client)


async def test_token_variants_of_a_real_token_are_401(client: Client, shared: Tenant) -> None:
    """Near misses of a valid token (case, padding, truncation) do not authenticate."""
    for token in (shared.token.swapcase(), shared.token + " x", shared.token[:-1], shared.token + "="):
        response = await client.get("/items", headers={"X-TOKEN": token})
        assert assert_problem(response, 401) == await missing_token_body(client)


async def test_duplicated_x_token_headers_are_400_whatever_their_values(client: Client, shared: Tenant) -> None:
    """Two X-TOKEN headers are a 400 problem in every order: garbage first, valid first, or the same token twice.

    No header wins silently: a proxy that appends a token to the client's own cannot pick the tenant.
    """
    for pair in (("garbage", shared.token), (shared.token, "garbage"), (shared.token, shared.token)):
        response = await client.get("/items", headers=[("X-TOKEN", pair[0]), ("X-TOKEN", pair[1])])
        assert_problem(response, 400)


RAW_TOKEN_HEADERS = [
    pytest.param([(b"X-TOKEN", b"")], id="empty"),
    pytest.param([(b"X-TOKEN", b" \t ")], id="whitespace"),
    pytest.param([(b"X-TOKEN", b"a" * 10_240)], id="10KB"),
    pytest.param([(b"X-TOKEN", b"\xe9t\xe9")], id="latin1"),
    pytest.param([(b"X-TOKEN", b"\xff\xfe\x80\x81" * 16)], id="non-utf8"),
    pytest.param([(b"X-TOKEN", "日本".encode())], id="utf8-cjk"),
]
DUPLICATED_TOKEN_HEADERS = [
    pytest.param([(b"X-TOKEN", b"a"), (b"X-TOKEN", b"b")], id="duplicated-garbage"),
    pytest.param([(b"x-token", b"a"), (b"X-Token", b"\xff")], id="duplicated-mixed-case"),
]


@pytest.mark.parametrize("headers", RAW_TOKEN_HEADERS)
async def test_raw_odd_x_token_bytes_through_uvicorn_are_401(
    live_server: LiveServer, headers: list[tuple[bytes, bytes]]
) -> None:
    """Raw header bytes (latin-1, invalid UTF-8, 10 KB, duplicates) through the real HTTP stack: 401 problem."""
    status, response_headers, body = await raw_request(live_server, raw_get(b"/items", *headers))
    raw_problem(status, response_headers, body, 401)


@pytest.mark.parametrize("headers", DUPLICATED_TOKEN_HEADERS)
async def test_raw_duplicated_x_token_headers_through_uvicorn_are_400(
    live_server: LiveServer, headers: list[tuple[bytes, bytes]]
) -> None:
    """Two X-TOKEN headers as raw bytes (any case, any bytes) through the real HTTP stack: 400 problem."""
    status, response_headers, body = await raw_request(live_server, raw_get(b"/items", *headers))
    raw_problem(status, response_headers, body, 400)


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="missing"),
        pytest.param({"X-ADMIN-KEY": ""}, id="empty"),
        pytest.param({"X-ADMIN-KEY": "wrong"}, id="wrong"),
        pytest.param({"X-ADMIN-KEY": ADMIN_KEY[:-1]}, id="prefix"),
        pytest.param({"X-ADMIN-KEY": ADMIN_KEY + " x"}, id="suffix"),
        pytest.param({"X-ADMIN-KEY": ADMIN_KEY.upper()}, id="upper-case"),
        pytest.param({"X-ADMIN-KEY": "k" * 10_240}, id="10KB"),
        pytest.param({"X-ADMIN-KEY": b"\xff\xfe\xe9"}, id="non-utf8-bytes"),
        pytest.param({"X-TOKEN": ADMIN_KEY}, id="key-in-x-token"),
        pytest.param({"Authorization": f"Bearer {ADMIN_KEY}"}, id="key-as-bearer"),
    ],
)
@pytest.mark.parametrize(("method", "json"), [("GET", None), ("POST", {"slug": "never_created"})])
async def test_admin_api_without_the_right_key_is_401(
    client: Client, pg: asyncpg.Connection, headers: dict[str, Any], method: str, json: object
) -> None:
    """The admin API answers 401 problem+json to a missing or wrong X-ADMIN-KEY and creates nothing."""
    before = await registry_state(pg)
    response = await client.request(method, "/admin/tenants", headers=headers, json=json)
    body = assert_problem(response, 401)
    assert "X-ADMIN-KEY" in body["detail"]
    assert await registry_state(pg) == before


async def test_tenant_token_is_not_an_admin_key(client: Client, shared: Tenant) -> None:
    """A valid tenant token, as X-ADMIN-KEY or beside a wrong one, opens nothing on the admin API."""
    for headers in ({"X-ADMIN-KEY": shared.token}, {**shared.headers, "X-ADMIN-KEY": "wrong"}):
        assert_problem(await client.get("/admin/tenants", headers=headers), 401)


async def test_raw_non_utf8_admin_key_through_uvicorn_is_401(live_server: LiveServer) -> None:
    """A latin-1 / invalid UTF-8 X-ADMIN-KEY through the real server is a 401 problem, not a 500."""
    request = raw_get(b"/admin/tenants", (b"X-ADMIN-KEY", b"\xff\xfe\xe9" + ADMIN_KEY.encode()))
    status, headers, body = await raw_request(live_server, request)
    raw_problem(status, headers, body, 401)


# ---------------------------------------------------------------------------------------------
# routing


@pytest.mark.parametrize(
    "path", ["/", "/nope", "/items/x/y", "/admin", "/admin/nope", "/itemsx", "/ITEMS", "/" + "z" * 5000]
)
async def test_unknown_route_is_404_problem(client: Client, shared: Tenant, path: str) -> None:
    """A path that no route matches is a 404 problem+json."""
    assert_problem(await client.get(path, headers=shared.headers), 404)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/items"),
        ("PATCH", "/items"),
        ("DELETE", "/items"),
        ("POST", f"/items/{uuid.UUID(int=1)}"),
        ("PUT", "/admin/tenants"),
        ("DELETE", "/admin/tenants"),
        ("POST", "/health"),
        ("TRACE", "/items"),
        ("BREW", "/items"),
    ],
)
async def test_wrong_method_is_405_problem_with_allow(client: Client, shared: Tenant, method: str, path: str) -> None:
    """A known path with a method it does not serve is a 405 problem+json that says what is allowed."""
    response = await client.request(method, path, headers={**shared.headers, "X-ADMIN-KEY": ADMIN_KEY})
    assert_problem(response, 405)
    assert response.headers.get("allow"), response.headers


# ---------------------------------------------------------------------------------------------
# tenant slugs (T4)

BAD_SLUGS = [
    'a"; drop schema cobreja; --',
    "Robert'); DROP TABLE",
    "x'; DROP SCHEMA cobreja CASCADE; --",
    "tenant-x",
    "UPPER",
    "Mixed",
    "a" * 60,
    "a" * 44,
    "",
    " ",
    "1abc",
    "_abc",
    "abc\n",
    "a b",
    "a.b",
    "a\x00",
    "ñandú",
    "a/b",
    "template",
    "public",
    "cobreja",
    "information_schema",
    "pg_catalog",
    "pg_toast_x",
]


@pytest.mark.parametrize("slug", BAD_SLUGS, ids=repr)
async def test_invalid_slug_is_refused_and_registry_unchanged(
    client: Client, pg: asyncpg.Connection, admin_headers: dict[str, str], slug: str
) -> None:
    """Slugs that cannot be a safe schema name (incl. SQL injection, empty, over-long, reserved) get one answer.

    Always a 422 `invalid-slug` problem whose detail explains the rule broken; neither a registry row
    nor a schema appears, and the shared schema is still there.
    """
    before = await registry_state(pg)
    response = await client.post("/admin/tenants", json={"slug": slug}, headers=admin_headers)
    body = assert_problem(response, 422)
    assert body["type"].endswith("/invalid-slug"), body
    assert "slug" in body["detail"], body
    assert await registry_state(pg) == before
    assert await pg.fetchval("SELECT to_regclass('cobreja.tenant') IS NOT NULL")


@pytest.mark.parametrize("slug", [5, None, ["abc"], {"slug": "abc"}, True], ids=repr)
async def test_slug_of_wrong_type_is_400(
    client: Client, pg: asyncpg.Connection, admin_headers: dict[str, str], slug: object
) -> None:
    """A slug that is not a string is a per-field validation error; nothing is created."""
    before = await registry_state(pg)
    response = await client.post("/admin/tenants", json={"slug": slug}, headers=admin_headers)
    assert_validation(response, "slug", source="body")
    assert await registry_state(pg) == before


@pytest.mark.parametrize(
    "body",
    [{}, {"slug": "ok_slug_x", "extra": 1}, [{"slug": "ok_slug_y"}], "ok_slug_z"],
    ids=["missing", "unknown-field", "array", "string"],
)
async def test_admin_create_with_bad_body_is_400(
    client: Client, pg: asyncpg.Connection, admin_headers: dict[str, str], body: object
) -> None:
    """POST /admin/tenants with a missing slug, an unknown field or a non-object body creates nothing."""
    before = await registry_state(pg)
    response = await client.post("/admin/tenants", json=body, headers=admin_headers)
    assert_problem(response, 400, 422)
    assert "errors" in response.json()
    assert await registry_state(pg) == before


@pytest.mark.parametrize("slug", [*BAD_SLUGS[:8], "a%2Fb", "..", "%00"], ids=repr)
@pytest.mark.parametrize(
    "route", [("GET", ""), ("DELETE", ""), ("POST", "/suspend"), ("POST", "/resume"), ("POST", "/rotate-token")]
)
async def test_bad_slug_in_admin_paths_never_500(
    client: Client, pg: asyncpg.Connection, admin_headers: dict[str, str], slug: str, route: tuple[str, str]
) -> None:
    """Per-tenant admin routes given a malformed slug answer 4xx problem+json and change nothing."""
    method, suffix = route
    before = await registry_state(pg)
    path = "/admin/tenants/" + quote(slug, safe="%") + suffix
    response = await client.request(method, path, headers=admin_headers)
    assert_problem(response, 400, 404, 405, 422)
    assert await registry_state(pg) == before


@pytest.mark.parametrize("path", ["//admin/tenants", "/admin//tenants", "/admin/tenants//", "//items", "/items//x"])
async def test_paths_with_empty_segments_reach_no_route(
    app: Litestar, client: Client, admin_headers: dict[str, str], tenant: Tenant, path: str
) -> None:
    """`//admin/tenants` and the like are 404 problem+json, never the route of the path without the `//`.

    Sent as raw ASGI, as a server passes the request line on (an HTTP client would merge the `//`).
    """
    headers = {**admin_headers, **tenant.headers}
    status, content_type, body = await asgi_get(app, path, headers)
    assert status == 404
    assert content_type == "application/problem+json"
    assert json.loads(body)["status"] == 404


async def asgi_get(app: Litestar, path: str, headers: dict[str, str]) -> tuple[int, str, bytes]:
    """GET `path` through the app's ASGI callable with exactly this path; status, content type, body."""
    answer: dict[str, Any] = {"body": b""}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
            answer["type"] = dict(message["headers"]).get(b"content-type", b"").decode()
        else:
            answer["body"] += message.get("body", b"")

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(name.lower().encode(), value.encode()) for name, value in headers.items()],
             "client": ("127.0.0.1", 50000), "server": ("testserver", 80)}
    await app(scope, receive, send)  # type: ignore[arg-type]
    return answer["status"], answer["type"], answer["body"]


async def test_duplicate_slug_is_409_and_creates_one_tenant(
    client: Client, pg: asyncpg.Connection, admin_headers: dict[str, str]
) -> None:
    """Creating a slug twice is a 409 problem; sequential or concurrent, exactly one tenant results."""
    first = await make_tenant(client, prefix="dup")
    before = await registry_state(pg)
    again = await client.post("/admin/tenants", json={"slug": first.slug}, headers=admin_headers)
    body = assert_problem(again, 409)
    assert first.slug in body["detail"]
    assert await registry_state(pg) == before

    slug = f"race_{uuid.uuid4().hex[:12]}"
    responses = await asyncio.gather(
        *(client.post("/admin/tenants", json={"slug": slug}, headers=admin_headers) for _ in range(6))
    )
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201] + [409] * 5, [response.text for response in responses]
    for response in responses:
        if response.status_code == 409:
            assert_problem(response, 409)
    assert await pg.fetchval("SELECT count(*) FROM cobreja.tenant WHERE slug = $1", slug) == 1
    assert await pg.fetchval("SELECT count(*) FROM pg_namespace WHERE nspname = $1", f"tenant_{slug}") == 1
