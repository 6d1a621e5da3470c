"""Settings: one typed source read from the environment, kept in step with `.env.example`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.settings import Settings, SettingsError
from app.telemetry.tracing import OTEL_ENV_NAMES

ENV_EXAMPLE = Path(__file__).resolve().parents[2] / ".env.example"


def documented_names() -> list[str]:
    """Variable names in .env.example, commented-out or not (`# NAME=` counts)."""
    pattern = re.compile(r"^#?\s*([A-Z][A-Z0-9_]*)=", re.MULTILINE)
    return pattern.findall(ENV_EXAMPLE.read_text())


def test_env_example_documents_exactly_the_settings() -> None:
    """Every setting is in .env.example and .env.example names nothing the code doesn't read.

    `OTEL_*` names are the OpenTelemetry SDK's own; they must be ones the tracing set-up honours.
    """
    names = documented_names()
    assert sorted(name for name in names if not name.startswith("OTEL_")) == sorted(Settings.env_names())
    assert sorted(name for name in names if name.startswith("OTEL_")) == sorted(OTEL_ENV_NAMES)


def test_env_example_defaults_match_the_code() -> None:
    """Where .env.example shows a value for a setting with a default, it is the code's default."""
    defaults = Settings()
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = re.match(r"^#?\s*([A-Z][A-Z0-9_]*)=(.*)$", line)
        if not match or not match.group(2) or match.group(1).startswith("OTEL_"):
            continue
        name, shown = match.groups()
        actual = getattr(defaults, name.lower())
        if isinstance(actual, bool):
            assert str(actual).lower() == shown, f"{name}: .env.example says {shown!r}, code says {actual!r}"
        elif actual not in ("", None):
            assert str(actual) == shown, f"{name}: .env.example says {shown!r}, code says {actual!r}"


def test_values_are_converted_to_their_types() -> None:
    """Numbers arrive as numbers; unset or empty variables keep the defaults."""
    settings = Settings.from_env({"DB_POOL_MAX_SIZE": "7", "TOKEN_CACHE_TTL_SECONDS": "1.5", "LOG_LEVEL": ""})
    assert settings.db_pool_max_size == 7
    assert settings.token_cache_ttl_seconds == 1.5
    assert settings.log_level == "INFO"


@pytest.mark.parametrize(("raw", "expected"), [("true", True), ("1", True), ("On", True), ("false", False),
                                              ("0", False), ("no", False)])
def test_booleans_read_the_usual_spellings(raw: str, expected: bool) -> None:
    """ACCESS_LOG=false turns access lines off (a plain bool() would read "false" as true)."""
    assert Settings.from_env({"ACCESS_LOG": raw}).access_log is expected


def test_a_word_that_is_not_a_boolean_is_refused() -> None:
    """METRICS_ENABLED=maybe names the variable instead of silently meaning true."""
    with pytest.raises(SettingsError, match="METRICS_ENABLED"):
        Settings.from_env({"METRICS_ENABLED": "maybe"})


def test_malformed_values_fail_with_the_variable_name() -> None:
    """A non-number in a numeric variable is a SettingsError that names the variable."""
    with pytest.raises(SettingsError, match="DB_POOL_MAX_SIZE"):
        Settings.from_env({"DB_POOL_MAX_SIZE": "many"})


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"DB_POOL_MAX_SIZE": "0"}, "DB_POOL_MAX_SIZE"),
        ({"DB_POOL_MIN_SIZE": "20", "DB_POOL_MAX_SIZE": "5"}, "DB_POOL_MIN_SIZE"),
        ({"TOKEN_CACHE_TTL_SECONDS": "nan"}, "TOKEN_CACHE_TTL_SECONDS"),
        ({"TOKEN_CACHE_MAX_ENTRIES": "0"}, "TOKEN_CACHE_MAX_ENTRIES"),
        ({"REDIS_TIMEOUT_SECONDS": "-1"}, "REDIS_TIMEOUT_SECONDS"),
        ({"LOG_LEVEL": "chatty"}, "LOG_LEVEL"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({"REDIS_URL": "garbage"}, "REDIS_URL"),
    ],
)
def test_values_that_would_fail_later_are_refused_now(environ: dict[str, str], named: str) -> None:
    """Zero or negative sizes, NaN, min > max, unknown log levels and foreign URL schemes fail at load."""
    with pytest.raises(SettingsError, match=named):
        Settings.from_env(environ)


def test_secrets_stay_out_of_the_repr() -> None:
    """Printing settings (say in a traceback) shows neither the admin key nor the DSNs."""
    settings = Settings(admin_api_key="sekrit", database_url="postgresql://u:pw@h/db", redis_url="redis://:pw@h")
    assert "sekrit" not in repr(settings)
    assert "pw" not in repr(settings)
