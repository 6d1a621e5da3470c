"""Typed settings read once from environment variables (the only source of configuration).

Every field maps to one upper-case variable of the same name; `.env.example` documents them and
`tests/unit/test_settings.py` keeps the two in step.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from typing import Any


class SettingsError(ValueError):
    """A configuration value is missing or malformed."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Configuration of one Cobreja process.

    Attributes mirror environment variables: `database_url` is `DATABASE_URL`, and so on.
    """

    database_url: str = ""
    """PostgreSQL DSN. Empty under `app dev` means: start an embedded server."""
    redis_url: str = ""
    """Redis DSN. Empty under `app dev` means: start an embedded Valkey server."""
    admin_api_key: str = ""
    """Secret for the `X-ADMIN-KEY` header. Required by `app run`; `app dev` generates one."""
    log_level: str = "INFO"
    """Minimum level of log lines (DEBUG, INFO, WARNING, ERROR)."""
    db_pool_min_size: int = 2
    """Connections the PostgreSQL pool opens at start."""
    db_pool_max_size: int = 10
    """Upper bound of the PostgreSQL pool (one pool per process, shared by all tenants)."""
    db_connect_timeout_seconds: float = 2.0
    """How long opening a PostgreSQL connection may take before the request gets a 503."""
    db_command_timeout_seconds: float = 10.0
    """How long one SQL statement may run before it is cancelled."""
    redis_timeout_seconds: float = 0.5
    """Socket timeout of Redis commands; past it the registry in PostgreSQL answers instead."""
    redis_token_ttl_seconds: int = 3600
    """How long a token record (or a revocation tombstone) lives in Redis before the registry is asked again."""
    token_cache_ttl_seconds: float = 5.0
    """How long a resolved token stays in the in-process cache (bounds revocation delay)."""
    token_cache_max_entries: int = 10_000
    """Upper bound of the in-process token cache; the oldest entries are evicted first."""
    max_request_body_bytes: int = 1_048_576
    """Bodies larger than this are refused with 413."""
    data_dir: str = ".cobreja"
    """Where `app dev` keeps the embedded servers' data (relative to the working directory)."""

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
        """Read every field from `environ` (default: the process environment); `overrides` win."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field in fields(cls):
            raw = env.get(field.name.upper())
            if raw is not None and raw != "":
                values[field.name] = _convert(field.name, raw, type(field.default))
        values.update(overrides)
        return cls(**values)

    @classmethod
    def env_names(cls) -> list[str]:
        """The environment variable names this class reads, in declaration order."""
        return [field.name.upper() for field in fields(cls)]


def _convert(name: str, raw: str, kind: type) -> Any:
    """Turn the text of an environment variable into the field's type, or raise SettingsError."""
    try:
        return kind(raw)
    except ValueError as exc:
        raise SettingsError(f"{name.upper()}={raw!r} is not a valid {kind.__name__}") from exc
