"""The preamble every command runs before its work, and the way every command fails.

`app run`, `app dev`, `app tenants ...` and `python -m app.migrate_tenants` all start the same
way: read the settings (exit 2 naming the variable on a malformed one), set up the process's logs
(and, for servers, tracing), insist on what the command cannot do without (exit 2), and start
embedded servers for what the command may do without. `Needs` says which of these a command
wants; `prepare` does them, in that order.
"""

from __future__ import annotations

import secrets
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, NoReturn

import click

from app.embedded import start_postgres, start_valkey
from app.envfile import load_env_file, nearest
from app.settings import Settings, SettingsError
from app.telemetry import set_up_process

Server = Literal["postgres", "redis"]
_URL_OF: dict[Server, str] = {"postgres": "database_url", "redis": "redis_url"}
_LABEL_OF: dict[Server, str] = {"postgres": "PostgreSQL", "redis": "Redis (Valkey)"}


@dataclass(frozen=True, slots=True)
class Needs:
    """What one command needs from its environment before it runs."""

    command: str
    """The command as the user typed it, for messages (`app run`)."""
    stdout_is_output: bool = True
    """Whether the command prints its results on stdout: its logs then go to stderr."""
    traces: bool = False
    """Whether the command serves requests, and so installs tracing."""
    required: tuple[str, ...] = ()
    """Environment variables without which the command refuses to start (exit 2)."""
    embedded: tuple[Server, ...] = ()
    """Servers started embedded, under DATA_DIR, when their URL is unset."""
    dev_secrets: bool = False
    """Whether a missing ADMIN_API_KEY and MONITORING_PASSWORD are generated (for this run only)."""
    creates_data_dir: bool = False
    """Whether the command may start fresh embedded servers when no dev data directory exists yet
    (`app dev` does; the CLIs only use the servers of an existing one, found from any project directory)."""
    strong_secrets: bool = False
    """Whether the secrets set must be long enough to resist guessing (refused with exit 2 otherwise)."""


MIN_SECRET_LENGTH = 16
"""Characters a secret of a served instance needs at least (`secrets.token_urlsafe(32)` gives 43)."""
SECRETS = ("ADMIN_API_KEY", "MONITORING_PASSWORD", "METRICS_TOKEN")


SERVER = Needs("app run", stdout_is_output=False, traces=True,
               required=("DATABASE_URL", "REDIS_URL", "ADMIN_API_KEY"), strong_secrets=True)
DEV_SERVER = Needs("app dev", stdout_is_output=False, traces=True, embedded=("postgres", "redis"), dev_secrets=True,
                   creates_data_dir=True)
TENANTS_CLI = Needs("app tenants", embedded=("postgres", "redis"))
FLEET_CLI = Needs("python -m app.migrate_tenants", embedded=("postgres",))


def fail(message: str, code: int = 1) -> NoReturn:
    """End the command with one `error:` line on stderr and exit `code` (no traceback)."""
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def prepare(needs: Needs) -> Settings:
    """Settings from the environment, with the process set up for the command that `needs` describes."""
    try:
        load_env_file()
        settings = Settings.from_env()
    except SettingsError as exc:
        fail(str(exc), code=2)
    if needs.dev_secrets:
        settings = replace(settings, admin_api_key=settings.admin_api_key or secrets.token_urlsafe(32),
                           monitoring_password=settings.monitoring_password or secrets.token_urlsafe(12))
    set_up_process(settings, stream=sys.stderr if needs.stdout_is_output else sys.stdout, traces=needs.traces)
    missing = [name for name in needs.required if not getattr(settings, name.lower())]
    if missing:
        fail(f"`{needs.command}` needs {', '.join(missing)} (use `app dev` for embedded servers)", code=2)
    weak = [name for name in SECRETS if 0 < len(getattr(settings, name.lower())) < MIN_SECRET_LENGTH]
    if needs.strong_secrets and weak:
        fail(f"{', '.join(weak)} must be at least {MIN_SECRET_LENGTH} characters for `{needs.command}` "
             "(generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))')", code=2)
    return with_embedded(settings, needs)


def dev_data_dir(settings: Settings, needs: Needs) -> Path:
    """Where the dev servers live: DATA_DIR if absolute, else the nearest such directory up from here.

    With none found, `app dev` makes one here; any other command fails, saying how to reach servers,
    rather than start empty ones in a directory nobody meant (the CLI run from the wrong folder).
    """
    configured = Path(settings.data_dir)
    if configured.is_absolute():
        return configured
    found = nearest(settings.data_dir)
    if found is not None:
        return found
    if needs.creates_data_dir:
        return configured.resolve()
    fail(f"no dev servers found: no {settings.data_dir}/ in {Path.cwd()} or its parents. Run this command in "
         "the project directory where `app dev` runs, or export DATABASE_URL and REDIS_URL "
         "(the `app dev` banner prints both)", code=2)


def with_embedded(settings: Settings, needs: Needs) -> Settings:
    """`settings` with an embedded server for each server `needs` that has no URL set (said on stderr)."""
    unset = [server for server in needs.embedded if not getattr(settings, _URL_OF[server])]
    if not unset:
        return settings
    data_dir = dev_data_dir(settings, needs)
    for server in unset:
        click.echo(f"note: {_URL_OF[server].upper()} is unset; using the dev {_LABEL_OF[server]} under "
                   f"{data_dir}/", err=True)
    database_url = start_postgres(data_dir) if "postgres" in unset else settings.database_url
    redis_url = start_valkey(data_dir) if "redis" in unset else settings.redis_url
    return replace(settings, database_url=database_url, redis_url=redis_url, data_dir=str(data_dir))
