"""Server subprocesses for the benchmark: free-port check, start in a process group, wait, kill."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import psutil


class BenchError(RuntimeError):
    """The benchmark cannot go on; the message says why."""


@dataclass
class Server:
    """One server subprocess (the leader of its own process group) and where its output goes."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def base_url(self) -> str:
        """http://127.0.0.1:<port>."""
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, lines: int = 30) -> str:
        """The last `lines` lines of the server's stdout+stderr."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def ensure_port_free(port: int) -> None:
    """Raise BenchError naming the holder if anything listens on `port` (SO_REUSEPORT stragglers too).

    A bind with SO_REUSEADDR but without SO_REUSEPORT fails while any socket listens on the port,
    even one a stale granian worker opened with SO_REUSEPORT (which a connect test might miss),
    yet succeeds past connections left in TIME_WAIT by the previous run.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT leftovers are no obstacle
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            raise BenchError(
                f"port {port} is busy ({exc.strerror}); held by: {_port_holders(port)}. "
                f"Stop it (kill its process group) or pick other ports."
            ) from exc


def _port_holders(port: int) -> str:
    """`pid name` of the processes listening on `port`, as far as we may see them."""
    try:
        pids = {
            c.pid
            for c in psutil.net_connections("tcp")
            if c.laddr and c.laddr.port == port and c.status == psutil.CONN_LISTEN and c.pid
        }
    except psutil.AccessDenied:
        return "unknown (see `ss -ltnp`)"
    names = []
    for pid in sorted(pids):
        try:
            names.append(f"{pid} {psutil.Process(pid).name()}")
        except psutil.Error:
            names.append(str(pid))
    return ", ".join(names) or "unknown (see `ss -ltnp`)"


def spawn(name: str, args: list[str], port: int, env: Mapping[str, str], log_path: Path) -> Server:
    """Start `python <args>` in a new session (own process group), output to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, *args],
            env=dict(env),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    return Server(name=name, port=port, process=process, log_path=log_path)


def wait_ready(server: Server, path: str, headers: Mapping[str, str], timeout: float = 60.0) -> None:
    """Poll `path` until it answers 200; BenchError (with the log tail) if the server dies or stalls."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise BenchError(f"{server.name} exited with {server.process.returncode}:\n{server.log_tail()}")
        if _answers_200(server.base_url + path, headers):
            return
        time.sleep(0.2)
    raise BenchError(f"{server.name} did not answer {path} within {timeout:.0f} s:\n{server.log_tail()}")


def _answers_200(url: str, headers: Mapping[str, str]) -> bool:
    request = urllib.request.Request(url, headers=dict(headers))  # noqa: S310 (our own http URLs)
    try:
        with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310 (our own http URLs)
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def cpu_seconds(server: Server) -> float:
    """User + system CPU seconds the server process has used so far (0.0 once it is gone)."""
    try:
        times = psutil.Process(server.process.pid).cpu_times()
    except psutil.Error:
        return 0.0
    return float(times.user + times.system)


def stop(server: Server, grace: float = 10.0) -> None:
    """SIGTERM the server's whole process group, SIGKILL it after `grace` seconds. Idempotent."""
    pgid = server.process.pid  # start_new_session: the leader's pid is the group id
    _signal_group(pgid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        server.process.wait(timeout=grace)
    _signal_group(pgid, signal.SIGKILL)  # stragglers in the group (uvicorn workers) go too
    server.process.wait(timeout=grace)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)
