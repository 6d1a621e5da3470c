"""`.env` is read by every command (the environment wins), and the CLIs find the dev servers from any folder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from tests.support.processes import clean_env, free_port, run_cli, run_python, stop_process, wait_until_up
from tests.support.tenants import ADMIN_KEY


def env_without_env_file(**variables: str) -> dict[str, str]:
    """A clean environment in which the commands look for `.env` themselves (no ENV_FILE)."""
    env = clean_env(**variables)
    del env["ENV_FILE"]
    return env


def write_env(directory: Path, **variables: str) -> Path:
    """A `.env` in `directory` with `variables` (one NAME=value per line, a comment on top)."""
    lines = ["# written by the test", *(f"{name}={value}" for name, value in variables.items())]
    (directory / ".env").write_text("\n".join(lines) + "\n")
    return directory / ".env"


async def test_the_tenants_cli_reads_dotenv_in_a_subdirectory(server_urls: dict[str, str], tmp_path: Path) -> None:
    """`app tenants list --json` run two folders below a `.env` uses its DATABASE_URL / REDIS_URL (no dev servers)."""
    write_env(tmp_path, **server_urls)
    below = tmp_path / "src" / "deeper"
    below.mkdir(parents=True)
    result = await run_cli("tenants", "list", "--json", env=env_without_env_file(), cwd=below)
    assert result.returncode == 0, result.stderr
    assert isinstance(result.json(), list)
    assert "note:" not in result.stderr, "the .env's URLs were used: no embedded server"
    assert not (tmp_path / ".cobreja").exists()
    assert not (below / ".cobreja").exists()


async def test_the_environment_wins_over_dotenv(server_urls: dict[str, str], tmp_path: Path) -> None:
    """A variable set in the environment beats the file: a wrong DATABASE_URL in `.env` is ignored."""
    write_env(tmp_path, DATABASE_URL="postgresql://nobody@127.0.0.1:1/none", REDIS_URL=server_urls["REDIS_URL"])
    result = await run_python("-m", "app.migrate_tenants", "--json",
                              env=env_without_env_file(DATABASE_URL=server_urls["DATABASE_URL"]), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.json()["ok"] is True


def test_app_run_serves_from_a_filled_dotenv(server_urls: dict[str, str], tmp_path: Path) -> None:
    """`app run` in a folder whose `.env` holds DATABASE_URL, REDIS_URL and ADMIN_API_KEY serves with that key."""
    write_env(tmp_path, **server_urls, ADMIN_API_KEY=ADMIN_KEY, DB_POOL_MAX_SIZE="2", LOG_LEVEL="WARNING")
    port = free_port()
    with (tmp_path / "server.log").open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "app", "run", "--host", "127.0.0.1", "--port", str(port)],
                                   env=env_without_env_file(), cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until_up(f"http://127.0.0.1:{port}/health", process)
        response = httpx.get(f"http://127.0.0.1:{port}/admin/tenants", headers={"X-ADMIN-KEY": ADMIN_KEY})
        assert response.status_code == 200, response.text
    finally:
        stop_process(process)


async def test_the_cli_outside_the_project_starts_no_servers(tmp_path: Path) -> None:
    """With no DATABASE_URL and no `.cobreja/` here or above, the CLI says how to reach the servers (exit 2).

    Before, it silently created an empty embedded PostgreSQL and Valkey in that folder and listed nothing.
    """
    result = await run_cli("tenants", "list", env=clean_env(), cwd=tmp_path)
    assert result.returncode == 2, result
    assert "no dev servers found" in result.stderr
    assert "DATABASE_URL" in result.stderr
    assert not (tmp_path / ".cobreja").exists()


async def test_the_cli_finds_the_dev_servers_from_a_subdirectory(tmp_path: Path) -> None:
    """A `.cobreja/` in a parent folder is found: the CLI run below it uses those servers and makes none here."""
    project = tmp_path / "project"
    made = await run_python("-m", "app.migrate_tenants", "--json",
                            env=clean_env(DATA_DIR=str(project / ".cobreja")), cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    below = project / "docs" / "notes"
    below.mkdir(parents=True)
    listed = await run_python("-m", "app.migrate_tenants", "--json", env=clean_env(), cwd=below)
    assert listed.returncode == 0, listed.stderr
    assert str(project / ".cobreja") in listed.stderr
    assert not (below / ".cobreja").exists()


async def test_an_env_file_variable_naming_no_file_is_refused(tmp_path: Path) -> None:
    """ENV_FILE pointing at a missing file → exit 2 naming ENV_FILE (a typo never silently drops the configuration)."""
    result = await run_cli("tenants", "list", env=clean_env(ENV_FILE=str(tmp_path / "missing.env")), cwd=tmp_path)
    assert result.returncode == 2, result
    assert "ENV_FILE" in result.stderr
    assert not (tmp_path / ".cobreja").exists()
