"""Typed settings read once from environment variables (which `app.envfile` may fill from `.env`).

Every field maps to one upper-case variable of the same name; `.env.example` documents them and
`tests/unit/test_settings.py` keeps the two in step.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, fields
from typing import Any

LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL")
MAY_BE_ZERO = {"tenant_rate_limit_per_second", "db_statement_cache_size"}
URL_SCHEMES = {"database_url": ("postgres://", "postgresql://"), "redis_url": ("redis://", "rediss://", "unix://")}


class SettingsError(ValueError):
    """A configuration value is missing or malformed."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Configuration of one Cobreja process.

    Attributes mirror environment variables: `database_url` is `DATABASE_URL`, and so on.
    """

    database_url: str = field(default="", repr=False)
    """PostgreSQL DSN. Empty under `app dev` means: start an embedded server."""
    redis_url: str = field(default="", repr=False)
    """Redis DSN. Empty under `app dev` means: start an embedded Valkey server."""
    admin_api_key: str = field(default="", repr=False)
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
    db_statement_cache_size: int = 100
    """asyncpg's prepared-statement cache per connection; 0 behind PgBouncer in transaction mode before 1.21."""
    db_request_budget_seconds: float = 2.0
    """Longest a request waits for a PostgreSQL that is down or hung before its 503; once PostgreSQL is known
    unreachable, requests get their 503 at once. (A slow statement on a PostgreSQL that answers probes may
    still run for DB_COMMAND_TIMEOUT_SECONDS.)"""
    db_probe_interval_seconds: float = 0.5
    """While PostgreSQL is known unreachable, how often a background probe tries it; the first success ends the 503s."""
    redis_timeout_seconds: float = 0.5
    """Socket timeout of Redis commands; past it the registry in PostgreSQL answers instead."""
    redis_record_keys: str = field(default="", repr=False)
    """Comma-separated secrets that authenticate token records in Redis (HMAC-SHA256): the first signs, each
    one verifies, so a key is rotated by putting the new one first and dropping the old one once a reload
    re-signed every record (logged "token records reloaded"). Every process (servers and `app tenants`)
    needs the same list. Empty: a key derived from ADMIN_API_KEY."""
    redis_token_ttl_seconds: int = 300
    """How long a revocation tombstone lives in Redis, and how long a sealed record is believed before the
    registry is asked again (records of live tokens stay in Redis: it is kept complete, so a flood of
    unknown tokens costs no registry query)."""
    token_cache_ttl_seconds: float = 5.0
    """How long a resolved token stays in the in-process cache (bounds revocation delay)."""
    token_cache_max_entries: int = 10_000
    """Upper bound of the in-process token cache; the oldest entries are evicted first."""
    tenant_rate_limit_per_second: float = 0.0
    """Requests per second each tenant may make, per worker process; 0 turns the limit off."""
    tenant_rate_limit_burst: float = 100.0
    """Requests a tenant may make at once before the per-second rate applies."""
    max_request_body_bytes: int = 1_048_576
    """Bodies larger than this are refused with 413."""
    cors_allow_origins: str = ""
    """Comma-separated origins (`https://app.example.com`) browsers may call the API from; `*` allows any.
    Empty: no CORS headers, and browsers keep cross-origin pages out."""
    data_dir: str = ".cobreja"
    """Where `app dev` keeps the embedded servers' data (relative to the working directory)."""
    log_dir: str = ""
    """Directory for rotated log files (app.log, structured.jsonl, errors.log, performance.log); empty: stdout only."""
    access_log: bool = True
    """Whether every request writes one JSON access line."""
    metrics_enabled: bool = True
    """Whether requests are counted and timed for `/metrics` (and `/metrics` is served)."""
    metrics_token: str = field(default="", repr=False)
    """Bearer token `/metrics` then requires (`Authorization: Bearer <token>`); empty: `/metrics` is open
    (for local use)."""
    metrics_tenant_labels: int = 100
    """Tenants per process that get their own label in `tenant_requests_total`; later ones count as `other`."""
    slow_request_ms: float = 500.0
    """Requests at least this slow are marked `slow` in their access line, written to performance.log and
    listed by the dashboard's slowest requests."""
    monitoring_password: str = field(default="", repr=False)
    """Password (HTTP basic auth, any user name) for `/monitoring/` and `/health/detailed`; the admin key works too.
    Empty: only the admin key. `app dev` generates one."""
    monitoring_recording: bool = True
    """Whether each worker records its requests for the dashboard (in process, flushed to Redis every second)."""

    @property
    def cors_origins(self) -> list[str]:
        """CORS_ALLOW_ORIGINS as a list (empty: CORS off)."""
        return [origin.strip() for origin in self.cors_allow_origins.split(",") if origin.strip()]

    def __post_init__(self) -> None:
        """Refuse values that would fail later in a less clear way."""
        for problem in _problems(self):
            raise SettingsError(problem)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
        """Read every field from `environ` (default: the process environment); `overrides` win."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for setting in fields(cls):
            raw = env.get(setting.name.upper())
            if raw is not None and raw != "":
                values[setting.name] = _convert(setting.name, raw, type(setting.default))
        values.update(overrides)
        return cls(**values)

    @classmethod
    def env_names(cls) -> list[str]:
        """The environment variable names this class reads, in declaration order."""
        return [field.name.upper() for field in fields(cls)]


BOOLEANS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}


def _convert(name: str, raw: str, kind: type) -> Any:
    """Turn the text of an environment variable into the field's type, or raise SettingsError."""
    if kind is bool:
        if raw.strip().lower() not in BOOLEANS:
            raise SettingsError(f"{name.upper()}={raw!r} is not a boolean (use true or false)")
        return BOOLEANS[raw.strip().lower()]
    try:
        return kind(raw)
    except ValueError as exc:
        raise SettingsError(f"{name.upper()}={raw!r} is not a valid {kind.__name__}") from exc


def _problems(settings: Settings) -> list[str]:
    """Every rule a setting breaks, as messages naming the variable."""
    numbers = {f.name: getattr(settings, f.name) for f in fields(settings)
               if isinstance(f.default, int | float) and not isinstance(f.default, bool)}
    problems = [f"{name.upper()} must be a finite number > 0" for name, value in numbers.items()
                if not (math.isfinite(value) and (value > 0 or (value == 0 and name in MAY_BE_ZERO)))]
    if settings.db_pool_min_size > settings.db_pool_max_size:
        problems.append("DB_POOL_MIN_SIZE must not exceed DB_POOL_MAX_SIZE")
    if settings.log_level.upper() not in LOG_LEVELS:
        problems.append(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}")
    for name, schemes in URL_SCHEMES.items():
        url = getattr(settings, name)
        if url and not url.startswith(schemes):
            problems.append(f"{name.upper()} must start with {' or '.join(schemes)}")
    return problems
