"""Tenant lifecycle (T5) through the CLI: the same service layer as the admin API."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx
import pytest

from tests.conftest import unique_slug


def cli(server_urls: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run `python -m app tenants ARGS` against the session's servers."""
    env = {**os.environ, **server_urls, "LOG_LEVEL": "WARNING"}
    return subprocess.run([sys.executable, "-m", "app", "tenants", *args], env=env, capture_output=True,
                          text=True, timeout=60, check=False)


@pytest.mark.slow
async def test_each_transition_through_the_cli(server_urls: dict[str, str], client: httpx.AsyncClient) -> None:
    """Create → suspend (403) → resume (200) → rotate-token (old 401, new 200) → delete needs --yes → delete."""
    slug = unique_slug("cli")
    created = cli(server_urls, "create", slug, "--json")
    assert created.returncode == 0, created.stderr
    token = json.loads(created.stdout)["token"]

    async def status_with(tok: str) -> int:
        client._transport.app.state.resolver.cache.clear()  # type: ignore[attr-defined]
        return (await client.get("/items", headers={"X-TOKEN": tok})).status_code

    assert await status_with(token) == 200
    assert cli(server_urls, "suspend", slug).returncode == 0
    assert await status_with(token) == 403
    assert "suspended" in cli(server_urls, "show", slug).stdout
    assert cli(server_urls, "resume", slug).returncode == 0
    assert await status_with(token) == 200
    rotated = cli(server_urls, "rotate-token", slug, "--json")
    assert rotated.returncode == 0, rotated.stderr
    new_token = json.loads(rotated.stdout)["token"]
    assert await status_with(token) == 401
    assert await status_with(new_token) == 200
    refused = cli(server_urls, "delete", slug)
    assert refused.returncode == 2
    assert "--yes" in refused.stderr
    assert await status_with(new_token) == 200
    deleted = cli(server_urls, "delete", slug, "--yes")
    assert deleted.returncode == 0, deleted.stderr
    assert await status_with(new_token) == 401
    gone = cli(server_urls, "show", slug)
    assert gone.returncode == 1
    assert "No tenant" in gone.stderr
