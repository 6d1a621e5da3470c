"""`app dev`, the zero-config development server, run as a real process (SPEC "main job").

Without DATABASE_URL / REDIS_URL it must start an embedded PostgreSQL and Valkey with their data
under `<cwd>/.cobreja/`, migrate, ensure a `demo` tenant, print its token, the admin key and the
URLs, serve within 30 s, keep data across restarts, and leave no server behind when stopped.

Every `app dev` here runs in its own process group (start_new_session) in a fresh directory. The
embedded servers daemonize into sessions of their own, so a `finally` also kills, by pid, the
postmaster of that directory's pgdata and the Valkey whose pid that directory recorded: no test
leaves servers running, even when it fails.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import psutil
import pytest

from tests.support.processes import alive, clean_env, free_port, run_cli
from tests.support.sync import run_async
from tests.support.tenants import ADMIN_KEY

START_LIMIT_SECONDS = 30.0
DSN_PASSWORD = "dev-secret-pw"
STOP_LIMIT_SECONDS = 30.0
BANNER_FIELDS = {
    "token": "Demo token",
    "admin_key": "Admin key",
    "database_url": "PostgreSQL",
    "redis_url": "Redis",
    "data": "Data",
    "api": "API",
    "dashboard": "Dashboard",
}


@dataclass
class DevServer:
    """One `python -m app dev` process, what it printed, and the embedded servers it used."""

    cwd: Path
    port: int
    process: subprocess.Popen[bytes]
    stdout_path: Path
    stderr_path: Path
    up_seconds: float = 0.0
    banner: dict[str, str] = field(default_factory=dict)
    valkey_pids: set[int] = field(default_factory=set)

    @property
    def base_url(self) -> str:
        """Where it serves."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def pgdata(self) -> Path:
        """The embedded PostgreSQL data directory of this working directory."""
        return self.cwd / ".cobreja" / "pgdata"

    @property
    def token_headers(self) -> dict[str, str]:
        """Headers authenticating as the demo tenant with the token this run printed."""
        return {"X-TOKEN": self.banner["token"]}

    def stdout(self) -> str:
        """Everything printed on stdout so far."""
        return self.stdout_path.read_text(errors="replace")

    def stderr(self) -> str:
        """Everything printed on stderr so far."""
        return self.stderr_path.read_text(errors="replace")

    def record_valkey_pid(self) -> None:
        """Remember the pid of this directory's Valkey (its pidfile disappears when it stops)."""
        pidfile = self.cwd / ".cobreja" / "valkey" / "valkey.pid"
        if pidfile.exists():
            self.valkey_pids.add(int(pidfile.read_text().strip()))


def parse_banner(text: str) -> dict[str, str]:
    """The `Demo token`, `Admin key`, URLs ... lines of the start-up banner (and the dashboard's password)."""
    found = {}
    for key, label in BANNER_FIELDS.items():
        match = re.search(rf"^\s*{label}\s+(\S+)", text, re.MULTILINE)
        if match:
            found[key] = match.group(1)
    password = re.search(r"^\s*Dashboard\s+\S+\s+\(any user name, password (\S+)\)", text, re.MULTILINE)
    if password:
        found["monitoring_password"] = password.group(1)
    return found


def assert_dashboard_opens(banner: dict[str, str], base_url: str) -> None:
    """The dashboard URL the banner printed opens with the password it printed (any user name)."""
    assert banner["dashboard"] == f"{base_url}/monitoring/"
    assert len(banner["monitoring_password"]) >= 16
    page = httpx.get(banner["dashboard"], auth=("developer", banner["monitoring_password"]))
    assert page.status_code == 200, "the printed password opens the dashboard"


def postgres_processes(pgdata: Path) -> list[psutil.Process]:
    """Live postgres processes whose command line names `pgdata`."""
    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        try:
            cmdline = process.info["cmdline"] or []
            if "postgres" in (process.info["name"] or "") and str(pgdata) in " ".join(cmdline) and alive(process.pid):
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def leftovers(server: DevServer) -> list[str]:
    """Embedded server processes of `server`'s directory that are still running (should be none)."""
    left = [f"postgres {p.pid}: {' '.join(p.info['cmdline'] or [])}" for p in postgres_processes(server.pgdata)]
    left += [f"valkey {pid}" for pid in sorted(server.valkey_pids) if alive(pid)]
    return left


def wait_for_no_leftovers(server: DevServer, grace_seconds: float = 3.0) -> list[str]:
    """`leftovers(server)`, after giving just-stopped processes `grace_seconds` to be reaped."""
    deadline = time.monotonic() + grace_seconds
    while (left := leftovers(server)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def kill_everything(server: DevServer) -> None:
    """Last resort in `finally`: kill the `app dev` process group and this directory's servers."""
    if server.process.poll() is None:
        with suppress(ProcessLookupError):
            os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait(timeout=10)
    server.record_valkey_pid()
    victims = postgres_processes(server.pgdata)
    for pid in server.valkey_pids:
        with suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            process = psutil.Process(pid)
            if "valkey" in process.name():
                victims.append(process)
    for process in victims:
        with suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            process.kill()
    psutil.wait_procs(victims, timeout=5)


def spawn_dev(cwd: Path, env: dict[str, str], port: int | None = None) -> DevServer:
    """Start `python -m app dev --port P` in `cwd` in its own process group; output goes to files."""
    port = port or free_port()
    logs = cwd.parent / f"{cwd.name}-logs"
    logs.mkdir(exist_ok=True)
    run = len(list(logs.glob("stdout-*")))
    stdout_path, stderr_path = logs / f"stdout-{run}.txt", logs / f"stderr-{run}.txt"
    with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "app", "dev", "--port", str(port)],
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
    return DevServer(cwd=cwd, port=port, process=process, stdout_path=stdout_path, stderr_path=stderr_path)


def wait_serving(server: DevServer, started: float) -> DevServer:
    """Block until `server` answers /health and printed its banner; record how long that took."""
    deadline = started + START_LIMIT_SECONDS
    while True:
        if server.process.poll() is not None:
            raise AssertionError(f"app dev exited with {server.process.returncode}:\n{server.stderr()[-3000:]}")
        try:
            if httpx.get(server.base_url + "/health", timeout=1.0).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"app dev not serving within {START_LIMIT_SECONDS}s:\n{server.stderr()[-3000:]}")
        time.sleep(0.05)
    server.up_seconds = time.monotonic() - started
    server.banner = parse_banner(server.stdout())
    server.record_valkey_pid()
    print(f"\n[timing] app dev in {server.cwd.name}: serving after {server.up_seconds:.2f}s")
    return server


@contextmanager
def dev_server(cwd: Path, env: dict[str, str] | None = None) -> Iterator[DevServer]:
    """`app dev` in `cwd`, serving; whatever happens, nothing it started survives the block."""
    started = time.monotonic()
    server = spawn_dev(cwd, env if env is not None else clean_env())
    try:
        yield wait_serving(server, started)
    finally:
        kill_everything(server)


def stop(server: DevServer, sig: signal.Signals = signal.SIGINT) -> tuple[int, float]:
    """Send `sig` to the process group, as a terminal's Ctrl-C does; return exit code and seconds taken."""
    started = time.monotonic()
    os.killpg(server.process.pid, sig)
    returncode = server.process.wait(timeout=STOP_LIMIT_SECONDS)
    seconds = time.monotonic() - started
    print(f"[timing] app dev in {server.cwd.name}: {sig.name} -> exit {returncode} after {seconds:.2f}s")
    return returncode, seconds


def wait_exit_recording_pids(server: DevServer, limit_seconds: float) -> int:
    """Wait for `server` to exit by itself, noting its Valkey pid meanwhile; its exit code."""
    deadline = time.monotonic() + limit_seconds
    while server.process.poll() is None:
        assert time.monotonic() < deadline, f"app dev still running after {limit_seconds}s"
        server.record_valkey_pid()
        time.sleep(0.05)
    return server.process.returncode


def fresh_dir(tmp_path: Path, name: str) -> Path:
    """An empty working directory."""
    path = tmp_path / name
    path.mkdir()
    return path


def test_dev_zero_config_serves_keeps_data_across_restart_and_cleans_up(tmp_path: Path) -> None:
    """Zero-config `app dev`: embedded servers under `.cobreja/`, working demo token and admin key, clean Ctrl-C.

    First run: serves within 30 s with a banner (demo token, admin key, URLs); the token creates and
    lists an item; `app tenants create` in the same directory reuses the running servers and leaves
    them running. Ctrl-C (SIGINT to the process group) exits 0 without a traceback and stops both
    embedded servers. Second run in the same directory: a new demo token (the old one is dead),
    and the item and the CLI-created tenant are still there.
    """
    work = fresh_dir(tmp_path, "devA")
    with dev_server(work) as first:
        banner = first.banner
        assert set(banner) == {*BANNER_FIELDS, "monitoring_password"}, first.stdout()
        assert banner["api"] == f"{first.base_url}/items"
        assert Path(banner["data"]) == work / ".cobreja"
        assert str(first.pgdata) in banner["database_url"]
        assert banner["redis_url"].startswith("redis://127.0.0.1:")
        assert (first.pgdata / "PG_VERSION").exists()
        assert (work / ".cobreja" / "valkey").is_dir()
        assert len(first.valkey_pids) == 1
        assert len(banner["token"]) >= 43
        assert len(banner["admin_key"]) >= 32
        for secret in (banner["token"], banner["admin_key"], banner["monitoring_password"]):
            assert first.stdout().count(secret) >= 1
            assert secret not in first.stderr(), "secrets are printed to the terminal, never logged"

        created = httpx.post(first.base_url + "/items", json={"title": "survives restart"}, headers=first.token_headers)
        assert created.status_code == 201, created.text
        item = created.json()
        listed = httpx.get(first.base_url + "/items", headers=first.token_headers).json()
        assert [i["id"] for i in listed["items"]] == [item["id"]]

        admin = httpx.get(first.base_url + "/admin/tenants", headers={"X-ADMIN-KEY": banner["admin_key"]})
        assert admin.status_code == 200, admin.text
        assert "demo" in admin.text
        assert httpx.get(first.base_url + "/admin/tenants", headers={"X-ADMIN-KEY": ADMIN_KEY}).status_code == 401
        assert_dashboard_opens(banner, first.base_url)

        postmaster = {p.pid for p in postgres_processes(first.pgdata)}
        cli = run_async(lambda: run_cli("tenants", "create", "acme", "--json", env=clean_env(), cwd=work))
        assert cli.returncode == 0, cli.stderr
        acme_token = json.loads(cli.stdout)["token"]
        assert httpx.get(first.base_url + "/items", headers={"X-TOKEN": acme_token}).json()["total"] == 0
        assert httpx.get(first.base_url + "/items", headers=first.token_headers).status_code == 200, (
            "the CLI must not stop the servers `app dev` uses"
        )
        assert postmaster <= {p.pid for p in postgres_processes(first.pgdata)}
        first.record_valkey_pid()
        assert len(first.valkey_pids) == 1, "the CLI reused the running Valkey"

        returncode, _ = stop(first)
        assert returncode == 0, first.stderr()[-3000:]
        assert "Traceback" not in first.stderr()
        assert wait_for_no_leftovers(first) == []

    with dev_server(work) as second:
        assert second.banner["token"] != first.banner["token"], "the demo token is rotated on every start"
        again = httpx.get(second.base_url + "/items", headers=second.token_headers)
        assert again.status_code == 200, again.text
        assert [i["id"] for i in again.json()["items"]] == [item["id"]]
        assert httpx.get(second.base_url + "/items", headers=first.token_headers).status_code == 401
        assert httpx.get(second.base_url + "/items", headers={"X-TOKEN": acme_token}).status_code == 200

        returncode, _ = stop(second)
        assert returncode == 0
        assert wait_for_no_leftovers(second) == []


def test_two_dev_servers_in_two_directories_run_side_by_side(tmp_path: Path) -> None:
    """Two `app dev` in two directories at once: own servers, own data, own tokens; both stop cleanly."""
    dir_a, dir_b = fresh_dir(tmp_path, "devA"), fresh_dir(tmp_path, "devB")
    started = time.monotonic()
    a, b = spawn_dev(dir_a, clean_env()), spawn_dev(dir_b, clean_env())
    try:
        wait_serving(a, started)
        wait_serving(b, started)
        assert a.banner["database_url"] != b.banner["database_url"]
        assert a.banner["redis_url"] != b.banner["redis_url"]
        assert a.valkey_pids.isdisjoint(b.valkey_pids)
        assert a.banner["token"] != b.banner["token"]

        made = httpx.post(a.base_url + "/items", json={"title": "only in A"}, headers=a.token_headers)
        assert made.status_code == 201
        assert httpx.get(a.base_url + "/items", headers=a.token_headers).json()["total"] == 1
        assert httpx.get(b.base_url + "/items", headers=b.token_headers).json()["total"] == 0
        assert httpx.get(b.base_url + "/items", headers=a.token_headers).status_code == 401

        assert stop(a)[0] == 0
        assert wait_for_no_leftovers(a) == []
        assert httpx.get(b.base_url + "/items", headers=b.token_headers).status_code == 200, "B unaffected by A"
        assert stop(b)[0] == 0
        assert wait_for_no_leftovers(b) == []
    finally:
        kill_everything(a)
        kill_everything(b)


@pytest.fixture
def scratch_database(server_urls: dict[str, str]) -> Iterator[str]:
    """A database of its own on the session's PostgreSQL (so `demo` never lands in the shared one).

    Its DSN carries a password (ignored: the embedded server trusts local connections), so tests
    can check that it is never printed.
    """
    name = f"devenv_{uuid.uuid4().hex[:12]}"
    parts = urlsplit(server_urls["DATABASE_URL"])
    dsn = urlunsplit(parts._replace(netloc=f"postgres:{DSN_PASSWORD}@{parts.hostname or ''}", path=f"/{name}"))

    async def execute(sql: str) -> None:
        connection = await asyncpg.connect(server_urls["DATABASE_URL"])
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    run_async(lambda: execute(f'CREATE DATABASE "{name}"'))
    try:
        yield dsn
    finally:
        run_async(lambda: execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.mark.parametrize("with_redis_url", [True, False], ids=["database-and-redis-set", "only-database-set"])
def test_dev_honours_configured_servers_and_admin_key(
    with_redis_url: bool, scratch_database: str, server_urls: dict[str, str], tmp_path: Path
) -> None:
    """With DATABASE_URL (and REDIS_URL) set, `app dev` uses them: no `.cobreja/pgdata`, the env's admin key.

    The banner shows the configured DSN with its password masked.

    Only the unset one is embedded: with REDIS_URL unset a Valkey starts under `.cobreja/valkey`
    (and stops with the server); with both set nothing is created under `.cobreja/` at all.
    """
    work = fresh_dir(tmp_path, "devEnv")
    redis_url = server_urls["REDIS_URL"].rsplit("/", 1)[0] + "/3"
    env = clean_env(
        DATABASE_URL=scratch_database, ADMIN_API_KEY=ADMIN_KEY, **({"REDIS_URL": redis_url} if with_redis_url else {})
    )
    with dev_server(work, env) as server:
        assert server.banner["admin_key"] == ADMIN_KEY
        assert server.banner["database_url"] == scratch_database.replace(DSN_PASSWORD, "***")
        assert DSN_PASSWORD not in server.stdout() + server.stderr(), "the DSN password is never printed"
        assert not (work / ".cobreja" / "pgdata").exists()
        assert postgres_processes(server.pgdata) == []
        if with_redis_url:
            assert server.banner["redis_url"] == redis_url
            assert not (work / ".cobreja").exists()
        else:
            assert (work / ".cobreja" / "valkey").is_dir()
            assert len(server.valkey_pids) == 1
        made = httpx.post(server.base_url + "/items", json={"title": "x"}, headers=server.token_headers)
        assert made.status_code == 201, made.text
        tenants = httpx.get(server.base_url + "/admin/tenants", headers={"X-ADMIN-KEY": ADMIN_KEY})
        assert tenants.status_code == 200
        assert [t["slug"] for t in tenants.json()["tenants"]] == ["demo"]

        assert stop(server)[0] == 0
        assert wait_for_no_leftovers(server) == []


def test_dev_on_a_busy_port_fails_clearly_and_leaves_nothing_running(tmp_path: Path) -> None:
    """A port already in use: `app dev` exits non-zero saying so, before starting servers or rotating the token."""
    work = fresh_dir(tmp_path, "devBusy")
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = int(blocker.getsockname()[1])
        server = spawn_dev(work, clean_env(), port=port)
        try:
            returncode = wait_exit_recording_pids(server, START_LIMIT_SECONDS + STOP_LIMIT_SECONDS)
            assert returncode != 0
            assert "already in use" in server.stderr()
            assert "Traceback" not in server.stderr()
            assert not (server.pgdata / "PG_VERSION").exists(), "no embedded server was started"
            assert "Demo token" not in server.stdout()
            assert wait_for_no_leftovers(server) == []
        finally:
            kill_everything(server)


def test_dev_stopped_with_sigterm_stops_its_embedded_servers(tmp_path: Path) -> None:
    """SIGTERM (`kill`, an IDE's stop button, a process manager) exits 0 and stops the embedded servers."""
    work = fresh_dir(tmp_path, "devTerm")
    with dev_server(work) as server:
        returncode, _ = stop(server, signal.SIGTERM)
        assert returncode == 0, server.stderr()[-3000:]
        assert "Traceback" not in server.stderr()
        assert wait_for_no_leftovers(server) == []
