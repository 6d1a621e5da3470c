"""Tenant lifecycle (T5) through the CLI: the same service layer as the admin API."""

from __future__ import annotations

import httpx
import pytest
from litestar import Litestar

from tests.support.processes import Completed, clean_env, run_cli
from tests.support.tenants import unique_slug


async def cli(server_urls: dict[str, str], *args: str) -> Completed:
    """Run `python -m app tenants ARGS` against the session's servers."""
    return await run_cli("tenants", *args, env=clean_env(**server_urls, LOG_LEVEL="WARNING"))


@pytest.mark.slow
async def test_each_transition_through_the_cli(
    server_urls: dict[str, str], app: Litestar, client: httpx.AsyncClient
) -> None:
    """Create → suspend (403) → resume (200) → rotate-token (old 401, new 200) → delete needs --yes → delete."""
    slug = unique_slug("cli")
    created = await cli(server_urls, "create", slug, "--json")
    assert created.returncode == 0, created.stderr
    token = created.json()["token"]

    async def status_with(tok: str) -> int:
        app.state.resolver.cache.clear()
        return (await client.get("/items", headers={"X-TOKEN": tok})).status_code

    assert await status_with(token) == 200
    assert (await cli(server_urls, "suspend", slug)).returncode == 0
    assert await status_with(token) == 403
    assert "suspended" in (await cli(server_urls, "show", slug)).stdout
    assert (await cli(server_urls, "resume", slug)).returncode == 0
    assert await status_with(token) == 200
    rotated = await cli(server_urls, "rotate-token", slug, "--json")
    assert rotated.returncode == 0, rotated.stderr
    new_token = rotated.json()["token"]
    assert await status_with(token) == 401
    assert await status_with(new_token) == 200
    refused = await cli(server_urls, "delete", slug)
    assert refused.returncode == 2
    assert "--yes" in refused.stderr
    assert await status_with(new_token) == 200
    deleted = await cli(server_urls, "delete", slug, "--yes")
    assert deleted.returncode == 0, deleted.stderr
    assert await status_with(new_token) == 401
    gone = await cli(server_urls, "show", slug)
    assert gone.returncode == 1
    assert "No tenant" in gone.stderr
