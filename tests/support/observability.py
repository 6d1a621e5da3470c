"""The real observability tools of the ops tests: Prometheus, Alertmanager and the two exporters, on free ports.

Each runs from its Debian package (`.ci/run` installs them) in a temporary directory and is stopped on
exit. The skip markers name the package to install, so a machine without one says why a test did not run.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.support.processes import free_port, stop_process, wait_until_up

REPO = Path(__file__).resolve().parents[2]
OBSERVABILITY = REPO / "observability"
DOCKER = REPO / "docker"


def _binary(*names: str) -> str | None:
    """The first of `names` found on PATH or in /usr/bin, /usr/sbin."""
    for name in names:
        found = shutil.which(name) or next(
            (str(path) for path in (Path("/usr/bin") / name, Path("/usr/sbin") / name) if path.is_file()), None
        )
        if found:
            return found
    return None


PROMETHEUS = _binary("prometheus")
PROMTOOL = _binary("promtool")
ALERTMANAGER = _binary("prometheus-alertmanager", "alertmanager")
AMTOOL = _binary("amtool")
POSTGRES_EXPORTER = _binary("prometheus-postgres-exporter", "postgres_exporter")
REDIS_EXPORTER = _binary("prometheus-redis-exporter", "redis_exporter")

needs_prometheus = pytest.mark.skipif(
    PROMETHEUS is None or PROMTOOL is None,
    reason="Debian package prometheus (with promtool) not installed; .ci/run installs it",
)
needs_alertmanager = pytest.mark.skipif(
    ALERTMANAGER is None or AMTOOL is None,
    reason="Debian package prometheus-alertmanager (with amtool) not installed; .ci/run installs it",
)
needs_exporters = pytest.mark.skipif(
    POSTGRES_EXPORTER is None or REDIS_EXPORTER is None,
    reason="Debian packages prometheus-postgres-exporter and prometheus-redis-exporter not installed; "
    ".ci/run installs them",
)

SAMPLE_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
SAMPLE_LINE = re.compile(r"(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})?\s")
LABEL_PAIR = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
POLL_SECONDS = 0.25


@dataclass(frozen=True)
class PrometheusHandle:
    """A running Prometheus: its URL and log, and its HTTP API."""

    url: str
    log_path: Path

    def api(self, endpoint: str, **params: str) -> Any:
        """GET `/api/v1/<endpoint>` and return its `data`; the call must succeed."""
        response = httpx.get(f"{self.url}/api/v1/{endpoint}", params=params, timeout=10.0)
        body = response.json()
        assert response.status_code == 200, body
        assert body["status"] == "success", body
        return body["data"]

    def query(self, promql: str) -> list[dict[str, Any]]:
        """The result of an instant query (a vector's series, each with `metric` and `value`)."""
        data = self.api("query", query=promql)
        result: list[dict[str, Any]] = data["result"]
        return result

    def parse_error(self, promql: str) -> str | None:
        """Prometheus' own parse error for `promql`, or None when it accepts the expression."""
        response = httpx.get(f"{self.url}/api/v1/query", params={"query": promql}, timeout=10.0)
        body = response.json()
        if body["status"] == "success":
            return None
        return f"{body.get('errorType')}: {body.get('error')}"

    def log_tail(self, lines: int = 30) -> str:
        """The last `lines` lines Prometheus wrote that are not routine (info)."""
        kept = [line for line in self.log_path.read_text(errors="replace").splitlines() if "level=info" not in line]
        return "\n".join(kept[-lines:])


@contextmanager
def running_prometheus(config: Path, directory: Path, *flags: str) -> Iterator[PrometheusHandle]:
    """Prometheus with `config`, its TSDB in `directory`, on a free port, with extra `flags`, until exit."""
    assert PROMETHEUS is not None
    port = free_port()
    log_path = directory / "prometheus.log"
    command = [
        PROMETHEUS,
        f"--config.file={config}",
        f"--storage.tsdb.path={directory / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
        *flags,
    ]
    with _running(command, log_path, f"http://127.0.0.1:{port}/-/ready") as url:
        yield PrometheusHandle(url, log_path)


@contextmanager
def running_alertmanager(config: Path, directory: Path) -> Iterator[str]:
    """Alertmanager with `config` on a free port (clustering off), until exit; its base URL."""
    assert ALERTMANAGER is not None
    port = free_port()
    command = [
        ALERTMANAGER,
        f"--config.file={config}",
        f"--storage.path={directory / 'alertmanager'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
    ]
    with _running(command, directory / "alertmanager.log", f"http://127.0.0.1:{port}/-/ready") as url:
        yield url


def postgres_exporter_dsn(database_url: str) -> str:
    """`database_url` as the exporter's lib/pq expects it: the socket directory kept, TLS off (a local socket)."""
    parts = urlsplit(database_url)
    host = parse_qs(parts.query).get("host", [parts.hostname or "127.0.0.1"])[0]
    user = parts.username or "postgres"
    database = parts.path.lstrip("/") or "postgres"
    port = parts.port or 5432
    return f"host={host} port={port} user={user} dbname={database} sslmode=disable"


@contextmanager
def running_postgres_exporter(database_url: str, directory: Path) -> Iterator[str]:
    """postgres-exporter watching `database_url`, on a free port, until exit; its host:port."""
    assert POSTGRES_EXPORTER is not None
    port = free_port()
    command = [POSTGRES_EXPORTER, f"--web.listen-address=127.0.0.1:{port}"]
    env = {"DATA_SOURCE_NAME": postgres_exporter_dsn(database_url), "PATH": "/usr/bin:/bin"}
    with _running(command, directory / "postgres-exporter.log", f"http://127.0.0.1:{port}/metrics", env=env):
        _wait_for_sample(f"http://127.0.0.1:{port}/metrics", "pg_up 1")
        yield f"127.0.0.1:{port}"


@contextmanager
def running_redis_exporter(redis_url: str, directory: Path) -> Iterator[str]:
    """redis-exporter watching `redis_url`, on a free port, until exit; its host:port."""
    assert REDIS_EXPORTER is not None
    port = free_port()
    command = [REDIS_EXPORTER, f"--redis.addr={redis_url}", f"--web.listen-address=127.0.0.1:{port}"]
    with _running(command, directory / "redis-exporter.log", f"http://127.0.0.1:{port}/metrics"):
        _wait_for_sample(f"http://127.0.0.1:{port}/metrics", "redis_up 1")
        yield f"127.0.0.1:{port}"


def exposed_names(exposition: str) -> set[str]:
    """Every series name Prometheus stores from a text exposition: the name of each sample line, as written.

    Read from the lines themselves (not a client library's families, which add `_total` to counters
    that lack it), so a name is in the set only if a scrape really stores it.
    """
    names = set()
    for line in exposition.splitlines():
        name = SAMPLE_NAME.match(line)
        if name and not line.startswith("#"):
            names.add(name.group(0))
    return names


def exposed_labels(*expositions: str) -> dict[str, dict[str, set[str]]]:
    """For each series name in text expositions: its label names, each with the values seen.

    Read from the sample lines as written, like `exposed_names` (prometheus-client's parser files the
    samples of a counter without `_total`, which the exporters have many of, under `<name>_total`).
    """
    labels: dict[str, dict[str, set[str]]] = {}
    for exposition in expositions:
        for line in exposition.splitlines():
            sample = SAMPLE_LINE.match(line)
            if sample and not line.startswith("#"):
                seen = labels.setdefault(sample.group("name"), {})
                for label, value in LABEL_PAIR.findall(sample.group("labels") or ""):
                    seen.setdefault(label, set()).add(value)
    return labels


def _wait_for_sample(url: str, line: str, timeout: float = 20.0) -> None:
    """Poll an exporter until its exposition holds `line` (it reached what it watches)."""
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = httpx.get(url, timeout=5.0).text
        if any(candidate.strip() == line for candidate in text.splitlines()):
            return
        time.sleep(POLL_SECONDS)
    raise TimeoutError(f"{url} never showed {line!r}; last exposition head:\n{text[:2000]}")


@contextmanager
def _running(command: list[str], log_path: Path, ready_url: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """`command` with its output in `log_path` until `ready_url` answers; its base URL; stopped on exit."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        try:
            wait_until_up(ready_url, process)
        except (RuntimeError, TimeoutError) as exc:
            raise RuntimeError(f"{command[0]} did not start: {exc}\n{log_path.read_text(errors='replace')}") from exc
        parts = urlsplit(ready_url)
        yield f"{parts.scheme}://{parts.netloc}"
    finally:
        stop_process(process)
