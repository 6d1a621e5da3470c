"""The project's Prometheus and Alertmanager configs, read as data and rewritten for a run on this machine.

The compose configs name compose hosts (`app:8000`, `alertmanager:9093`), the secret
`/run/secrets/metrics_token` and `/etc/prometheus/rules`; a test run keeps everything else and changes
only those (plus shorter intervals), through the functions here, so what runs is the project's config.
Also: the rules and their unit tests as data, the metric selectors of a PromQL expression, and a
webhook that records what Alertmanager delivers.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import promql_parser
import yaml

from tests.support.observability import OBSERVABILITY

PROMETHEUS_DIR = OBSERVABILITY / "prometheus"
PROMETHEUS_CONFIG = PROMETHEUS_DIR / "prometheus.yml"
RULES_DIR = PROMETHEUS_DIR / "rules"
RULE_FILES = sorted(RULES_DIR.glob("*.yml"))
RULE_TESTS = sorted((PROMETHEUS_DIR / "tests").glob("*.yml"))
ALERTMANAGER_CONFIG = OBSERVABILITY / "alertmanager" / "alertmanager.yml"

T = TypeVar("T")


def load(path: Path) -> Any:
    """A YAML file, parsed."""
    return yaml.safe_load(path.read_text())


def alert_rules() -> list[dict[str, Any]]:
    """Every alerting rule of every rules file (each rule's dict, as written)."""
    return [rule for path in RULE_FILES for group in load(path)["groups"] for rule in group["rules"] if "alert" in rule]


def scrape_jobs(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The scrape configs of a Prometheus config, by job name."""
    return {job["job_name"]: job for job in config["scrape_configs"]}


def rewritten_prometheus(
    directory: Path,
    targets: dict[str, str],
    token_file: Path | None = None,
    alertmanager: str | None = None,
    rule_files: list[str] | None = None,
) -> Path:
    """The project's prometheus.yml for a run here, written into `directory`; its path.

    Only these change: jobs are kept if `targets` names them and then scrape that host:port; the
    cobreja job's `credentials_file` becomes `token_file`; `rule_files` becomes the repo's rules (or
    `rule_files`); the Alertmanager target becomes `alertmanager` (or is dropped); the scrape and
    evaluation intervals become 1 s (scrape timeout 1 s, as it may not exceed the interval).
    """
    config = load(PROMETHEUS_CONFIG)
    config["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
    config["rule_files"] = rule_files if rule_files is not None else [str(RULES_DIR / "*.yml")]
    if alertmanager is None:
        config.pop("alerting", None)
    else:
        config["alerting"]["alertmanagers"][0]["static_configs"] = [{"targets": [alertmanager]}]
    jobs = []
    for name, job in scrape_jobs(config).items():
        if name not in targets:
            continue
        job["static_configs"] = [{"targets": [targets[name]]}]
        if "authorization" in job:
            assert token_file is not None, f"job {name} needs a token file"
            job["authorization"]["credentials_file"] = str(token_file)
        jobs.append(job)
    assert {job["job_name"] for job in jobs} == set(targets), f"unknown jobs in {targets}"
    config["scrape_configs"] = jobs
    path = directory / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def rules_with_for(directory: Path, alert: str, duration: str) -> Path:
    """A copy of the repo's rules in `directory`/rules where every `alert` rule has `for: duration`; the folder."""
    folder = directory / "rules"
    folder.mkdir()
    changed = 0
    for path in RULE_FILES:
        document = load(path)
        for group in document["groups"]:
            for rule in group["rules"]:
                if rule.get("alert") == alert:
                    rule["for"] = duration
                    changed += 1
        (folder / path.name).write_text(yaml.safe_dump(document, sort_keys=False))
    assert changed, f"no rule named {alert}"
    return folder


def rewritten_alertmanager(directory: Path, webhook_url: str | None = None) -> Path:
    """The project's alertmanager.yml for a run here, written into `directory`; its path.

    Grouping waits become 1 s. With `webhook_url`, a receiver `observed` posting there is added, with a
    first route (`continue: true`, no matchers) sending every alert to it before the project's routes
    pick theirs, which stay as they are.
    """
    config = copy.deepcopy(load(ALERTMANAGER_CONFIG))
    config["route"].update(group_wait="1s", group_interval="1s")
    if webhook_url is not None:
        config["receivers"].append({"name": "observed", "webhook_configs": [{"url": webhook_url}]})
        config["route"]["routes"].insert(0, {"receiver": "observed", "continue": True})
    path = directory / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@dataclass(frozen=True)
class Selector:
    """One vector selector of a PromQL expression: the metric name and its label matchers."""

    name: str
    matchers: tuple[tuple[str, str, str], ...]
    """(label, operator, value), operator one of = != =~ !~."""


OPERATORS = {"Equal": "=", "NotEqual": "!=", "Re": "=~", "NotRe": "!~"}


def selectors(expr: str) -> list[Selector]:
    """The vector selectors of `expr` (inside range selectors and function calls too), as parsed."""
    found: list[Selector] = []

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            matchers = node.matchers.matchers
            assert node.name, f"selector without a metric name in {expr!r}"
            found.append(Selector(node.name, tuple(
                (m.name, OPERATORS[str(m.op).rsplit(".", 1)[-1]], m.value) for m in matchers if m.name != "__name__"
            )))

    promql_parser.walk(promql_parser.parse(expr), visit)
    return found


def poll(read: Callable[[], T], done: Callable[[T], bool], timeout: float = 20.0) -> T:
    """Call `read` until `done` accepts its result or `timeout` seconds pass; the last result."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.25)


@dataclass
class Webhook:
    """An HTTP receiver on 127.0.0.1 that keeps every JSON body POSTed to it."""

    url: str
    bodies: list[dict[str, Any]] = field(default_factory=list)


@contextmanager
def webhook() -> Iterator[Webhook]:
    """A Webhook on a free port, serving in a thread until exit."""
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: pytest shows what the test asserts instead."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Webhook(f"http://127.0.0.1:{server.server_address[1]}/", received)
    finally:
        server.shutdown()
        server.server_close()
