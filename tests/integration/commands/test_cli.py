"""`app tenants ...` run as real subprocesses against the session's PostgreSQL and Valkey (T5, T1).

Each call is `python -m app tenants ...` with DATABASE_URL / REDIS_URL from `server_urls`, in a
throw-away working directory (so an accidental embedded server would land there, and we can check
none was started). Tokens printed by the CLI are checked against Redis, the registry and the
running app; errors must be one `error: ...` line on stderr, a non-zero exit and no traceback.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import asyncpg
import httpx
import pytest
from redis.asyncio import Redis

from app.tenants.tokens import hash_token, redis_key
from tests.support.processes import Completed, clean_env, run_cli
from tests.support.records import SIGNER
from tests.support.tenants import unique_slug


@pytest.fixture
def cli_env(server_urls: dict[str, str]) -> dict[str, str]:
    """The environment of a CLI run: the session's servers, nothing else of ours."""
    return clean_env(**server_urls)


async def redis_record(redis: Redis, token_hash: str, within: float = 3.0) -> bytes | None:
    """The payload of the hash's record once Redis holds one sealed by the app's key (polled), or None."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        opened = SIGNER.open(token_hash, await redis.get(redis_key(token_hash)) or b"")
        if opened is not None:
            return opened[0]
        await asyncio.sleep(0.05)
    return None


def assert_clean_error(result: Completed, *fragments: str) -> None:
    """A user error: non-zero exit, an `error: ...` line naming `fragments`, no traceback, no stdout."""
    assert result.returncode != 0, result
    assert "Traceback" not in result.stderr, result.stderr
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(error_lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in error_lines[0], error_lines[0]
    assert result.stdout == "", result.stdout


async def create_json(slug: str, env: dict[str, str], cwd: Path) -> dict[str, object]:
    """`app tenants create SLUG --json`, asserting success; the decoded object."""
    result = await run_cli("tenants", "create", slug, "--json", env=env, cwd=cwd)
    assert result.returncode == 0, result
    return dict(json.loads(result.stdout))


async def test_create_prints_a_working_token_once_and_stores_only_its_hash(
    cli_env: dict[str, str], tmp_path: Path, redis: Redis, pg: asyncpg.Connection, client: httpx.AsyncClient
) -> None:
    """`tenants create SLUG` prints the tenant and its token; only the SHA-256 is stored (Redis, registry).

    The token authenticates against the app, Redis holds `tenant:token:<sha256>`, the registry
    holds the same unrevoked hash, and neither the registry rows nor any Redis key contain the
    token in clear. The token never reaches stderr (logs); no embedded server was started.
    """
    slug = unique_slug("cli")
    result = await run_cli("tenants", "create", slug, env=cli_env, cwd=tmp_path)
    assert result.returncode == 0, result
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"{slug}\tactive\tschema=tenant_{slug}\t"), lines
    token_lines = [line for line in lines if line.startswith("token: ")]
    assert len(token_lines) == 1, lines
    token = token_lines[0].removeprefix("token: ")
    assert len(token) >= 43
    assert result.stdout.count(token) == 1, "the token is printed exactly once"
    assert token not in result.stderr
    assert "cannot be shown again" in result.stderr
    assert not (tmp_path / ".cobreja").exists(), "DATABASE_URL/REDIS_URL were set: no embedded servers"

    digest = hash_token(token)
    cached = await redis_record(redis, digest)
    assert cached is not None, "the record reaches Redis (paid by the running app: this CLI run has no record key)"
    assert json.loads(cached) == {"slug": slug, "status": "active"}, "sealed by the app's key, no schema stored"
    assert [key async for key in redis.scan_iter(match=f"*{token}*")] == []

    rows = await pg.fetch(
        "SELECT tt.token_hash, tt.revoked_at FROM cobreja.tenant_token tt"
        " JOIN cobreja.tenant t ON t.id = tt.tenant WHERE t.slug = $1",
        slug,
    )
    assert [(row["token_hash"], row["revoked_at"]) for row in rows] == [(digest, None)]
    for table in ("cobreja.tenant_token", "cobreja.tenant"):
        dumped = await pg.fetch(f"SELECT r::text AS row FROM {table} AS r")
        assert not [row["row"] for row in dumped if token in row["row"]], f"token in clear in {table}"

    response = await client.get("/items", headers={"X-TOKEN": token})
    assert response.status_code == 200, response.text
    assert response.json()["total"] == 0


async def test_create_json_prints_one_object_with_tenant_and_token(
    cli_env: dict[str, str], tmp_path: Path, client: httpx.AsyncClient
) -> None:
    """`tenants create SLUG --json` prints exactly one JSON object `{tenant, token}` whose token works."""
    slug = unique_slug("clj")
    result = await run_cli("tenants", "create", slug, "--json", env=cli_env, cwd=tmp_path)
    assert result.returncode == 0, result
    assert len(result.stdout.strip().splitlines()) == 1, result.stdout
    body = json.loads(result.stdout)
    assert set(body) == {"tenant", "token"}
    tenant = body["tenant"]
    assert tenant["slug"] == slug
    assert tenant["schema"] == f"tenant_{slug}"
    assert tenant["status"] == "active"
    assert {"placement", "created_at", "updated_at"} <= set(tenant)
    assert body["token"] not in result.stderr
    created = await client.post("/items", json={"title": "via cli token"}, headers={"X-TOKEN": body["token"]})
    assert created.status_code == 201, created.text


async def test_list_shows_every_tenant_in_text_and_json(cli_env: dict[str, str], tmp_path: Path) -> None:
    """`tenants list` prints one line per tenant; `--json` prints an array with the same tenants, no tokens."""
    slugs = [unique_slug("cll") for _ in range(2)]
    tokens = [str((await create_json(slug, cli_env, tmp_path))["token"]) for slug in slugs]

    text = await run_cli("tenants", "list", env=cli_env, cwd=tmp_path)
    assert text.returncode == 0, text
    for slug in slugs:
        mine = [line for line in text.stdout.splitlines() if line.startswith(f"{slug}\t")]
        assert len(mine) == 1, text.stdout
        assert mine[0].startswith(f"{slug}\tactive\tschema=tenant_{slug}\tcreated=")

    as_json = await run_cli("tenants", "list", "--json", env=cli_env, cwd=tmp_path)
    assert as_json.returncode == 0, as_json
    listed = json.loads(as_json.stdout)
    assert isinstance(listed, list)
    by_slug = {entry["slug"]: entry for entry in listed}
    for slug in slugs:
        assert by_slug[slug]["schema"] == f"tenant_{slug}"
        assert by_slug[slug]["status"] == "active"
    assert list(by_slug).index(slugs[0]) < list(by_slug).index(slugs[1]), "oldest first"
    for token in tokens:
        assert token not in text.stdout
        assert token not in as_json.stdout


async def test_show_prints_one_tenant_in_text_and_json(cli_env: dict[str, str], tmp_path: Path) -> None:
    """`tenants show SLUG` prints the tenant's line; `--json` the same tenant as one object, without token."""
    slug = unique_slug("cls")
    created = await create_json(slug, cli_env, tmp_path)

    text = await run_cli("tenants", "show", slug, env=cli_env, cwd=tmp_path)
    assert text.returncode == 0, text
    assert len(text.stdout.splitlines()) == 1, text.stdout
    assert text.stdout.startswith(f"{slug}\tactive\tschema=tenant_{slug}\tcreated=")

    as_json = await run_cli("tenants", "show", slug, "--json", env=cli_env, cwd=tmp_path)
    assert as_json.returncode == 0, as_json
    shown = json.loads(as_json.stdout)
    assert shown == created["tenant"]
    assert str(created["token"]) not in as_json.stdout


@pytest.mark.parametrize("args", [["create", "Bad-Slug"], ["create", "Bad-Slug", "--json"], ["show", "Bad-Slug"]])
async def test_invalid_slug_is_a_clear_error(
    args: list[str], cli_env: dict[str, str], tmp_path: Path, pg: asyncpg.Connection
) -> None:
    """An invalid slug exits 1 with `error: ...` explaining the slug rule, no traceback, nothing created."""
    result = await run_cli("tenants", *args, env=cli_env, cwd=tmp_path)
    assert_clean_error(result, "slug", "lower-case")
    assert result.returncode == 1
    assert await pg.fetchval("SELECT count(*) FROM cobreja.tenant WHERE slug = 'Bad-Slug'") == 0
    assert await pg.fetchval("SELECT count(*) FROM pg_namespace WHERE nspname ILIKE 'tenant_bad%slug'") == 0


async def test_duplicate_slug_is_a_clear_error_and_keeps_the_first_token(
    cli_env: dict[str, str], tmp_path: Path, client: httpx.AsyncClient, pg: asyncpg.Connection
) -> None:
    """Creating an existing slug exits 1 with `error: ... already exists`; the original tenant is untouched."""
    slug = unique_slug("cld")
    first = await create_json(slug, cli_env, tmp_path)
    again = await run_cli("tenants", "create", slug, env=cli_env, cwd=tmp_path)
    assert_clean_error(again, slug, "already exists")
    assert again.returncode == 1
    rows = await pg.fetch(
        "SELECT tt.revoked_at FROM cobreja.tenant_token tt JOIN cobreja.tenant t ON t.id = tt.tenant WHERE t.slug = $1",
        slug,
    )
    assert [row["revoked_at"] for row in rows] == [None], "still exactly one live token"
    response = await client.get("/items", headers={"X-TOKEN": str(first["token"])})
    assert response.status_code == 200


@pytest.mark.parametrize("as_json", [False, True])
async def test_show_unknown_slug_is_a_clear_error(as_json: bool, cli_env: dict[str, str], tmp_path: Path) -> None:
    """`tenants show` of a well-formed but unknown slug exits 1 with `error: No tenant ...`, no traceback."""
    slug = unique_slug("nobody")
    result = await run_cli("tenants", "show", slug, *(["--json"] if as_json else []), env=cli_env, cwd=tmp_path)
    assert_clean_error(result, "No tenant", slug)
    assert result.returncode == 1


@pytest.mark.parametrize(
    ("overrides", "code", "fragments"),
    [
        (
            {"DATABASE_URL": "postgresql://postgres:cli-secret-pw@127.0.0.1:1/postgres"},
            1,
            ("unreachable", "DATABASE_URL"),
        ),
        ({"DB_POOL_MAX_SIZE": "many"}, 2, ("DB_POOL_MAX_SIZE",)),
    ],
    ids=["postgres-unreachable", "malformed-setting"],
)
async def test_environment_problems_are_clear_errors(
    overrides: dict[str, str], code: int, fragments: tuple[str, ...], cli_env: dict[str, str], tmp_path: Path
) -> None:
    """An unreachable PostgreSQL (exit 1) or a malformed setting (exit 2) is one `error:` line, no traceback.

    The database password in DATABASE_URL never appears in the message.
    """
    result = await run_cli("tenants", "list", env={**cli_env, **overrides}, cwd=tmp_path)
    assert_clean_error(result, *fragments)
    assert result.returncode == code
    assert "cli-secret-pw" not in result.stderr
