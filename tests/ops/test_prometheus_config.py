"""O8/O9: the compose stack's prometheus.yml, checked by promtool and run for real against `app run`.

promtool checks the file as shipped (syntax), then in full on a copy whose two compose-only paths point
at real files: full checks stat the bearer token's `credentials_file` (promtool fails on a missing one)
and read the rule files, and neither /run/secrets/metrics_token nor /etc/prometheus/rules exists here.
A real Prometheus then scrapes a real `app run` started with METRICS_TOKEN, and the two real exporters,
with that config rewritten only where a run here must differ (tests/ops/prometheus_stack.py says what).
"""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml

from tests.ops.prometheus_stack import (
    PROMETHEUS_CONFIG,
    RULE_FILES,
    RULES_DIR,
    alert_rules,
    load,
    poll,
    rewritten_prometheus,
    scrape_jobs,
)
from tests.support.observability import (
    DOCKER,
    PROMTOOL,
    PrometheusHandle,
    needs_exporters,
    needs_prometheus,
    running_postgres_exporter,
    running_prometheus,
    running_redis_exporter,
)
from tests.support.servers import LiveServer, app_env, serving
from tests.support.tenants import make_tenant

TOKEN = "scrape-token-0123456789abcdef"
CONFIG: dict[str, Any] = load(PROMETHEUS_CONFIG)
JOBS = scrape_jobs(CONFIG)
COMPOSE_PORTS = {"app": 8000, "postgres-exporter": 9187, "redis-exporter": 9121, "otel-collector": 8888,
                 "alertmanager": 9093, "localhost": 9090}
"""The host:port each scrape target must be: a compose service and the port it serves metrics on."""


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    """Run promtool with `args`; its result (output merged)."""
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=60, check=False)


def test_config_names_the_compose_services_and_secret() -> None:
    """Every job scrapes a compose service on its metrics port, the app's with the compose secret as bearer token.

    Compose is where these names come from (docker/compose.yml's services, its `metrics_token` secret and
    its mount of this directory at /etc/prometheus), so a renamed service or port fails here, not at
    `docker compose up`.
    """
    compose = load(DOCKER / "compose.yml")
    assert set(JOBS) == {"cobreja", "postgres", "redis", "otel-collector", "prometheus", "alertmanager"}
    for name, job in JOBS.items():
        [static] = job["static_configs"]
        [target] = static["targets"]
        host, port = target.rsplit(":", 1)
        assert host in compose["services"] or host == "localhost", f"job {name}: {host} is not a compose service"
        assert int(port) == COMPOSE_PORTS[host], f"job {name} scrapes {target}"
    assert JOBS["cobreja"]["metrics_path"] == "/metrics"
    assert JOBS["cobreja"]["authorization"] == {"type": "Bearer", "credentials_file": "/run/secrets/metrics_token"}
    assert "metrics_token" in compose["services"]["prometheus"]["secrets"]
    assert "../observability/prometheus:/etc/prometheus:ro" in compose["services"]["prometheus"]["volumes"]
    assert CONFIG["global"] == {"scrape_interval": "15s", "evaluation_interval": "15s"}
    assert CONFIG["rule_files"] == ["/etc/prometheus/rules/*.yml"]
    assert CONFIG["alerting"]["alertmanagers"] == [{"static_configs": [{"targets": ["alertmanager:9093"]}]}]


@needs_prometheus
def test_promtool_accepts_the_config_as_shipped() -> None:
    """`promtool check config --syntax-only` passes on the untouched prometheus.yml.

    Syntax only: a full check would stat /run/secrets/metrics_token, which exists only in the container.
    """
    result = promtool("check", "config", "--syntax-only", str(PROMETHEUS_CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr


@needs_prometheus
def test_promtool_accepts_the_config_with_its_token_and_rules(tmp_path: Path) -> None:
    """A full `promtool check config` passes with the token file and rules present, and checks every rule file.

    The copy differs only in the two compose paths: credentials_file -> a temporary token file, rule_files
    -> the repo's rules/*.yml (a glob matching nothing would pass silently, so each file must be named
    in promtool's output as checked).
    """
    config = load(PROMETHEUS_CONFIG)
    token = tmp_path / "metrics_token"
    token.write_text(TOKEN)
    scrape_jobs(config)["cobreja"]["authorization"]["credentials_file"] = str(token)
    config["rule_files"] = [str(RULES_DIR / "*.yml")]
    copy_path = tmp_path / "prometheus.yml"
    copy_path.write_text(yaml.safe_dump(config, sort_keys=False))
    result = promtool("check", "config", str(copy_path))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert RULE_FILES, "no rule files in observability/prometheus/rules"
    for path in RULE_FILES:
        assert f"Checking {path}" in output, output


@dataclass(frozen=True)
class Stack:
    """Prometheus scraping the app (with METRICS_TOKEN) and both exporters."""

    prometheus: PrometheusHandle
    app: LiveServer
    token_file: Path


@pytest.fixture(scope="module")
async def stack(server_urls: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    """The project's scrape config run against `app run` with METRICS_TOKEN and the real exporters.

    Rewritten: targets -> this test's host:ports (the otel-collector, prometheus and alertmanager jobs
    are dropped: no collector runs here, and the other two would only scrape themselves),
    credentials_file -> a temporary file holding the token, rule_files -> the repo's rules, intervals 1 s.
    """
    directory = tmp_path_factory.mktemp("prometheus-config")
    token_file = directory / "metrics_token"
    token_file.write_text(TOKEN + "\n")  # a secret file usually ends in a newline: Prometheus trims it
    with (
        serving(app_env(**server_urls, METRICS_TOKEN=TOKEN), directory / "app.log") as app,
        running_postgres_exporter(server_urls["DATABASE_URL"], directory) as postgres,
        running_redis_exporter(server_urls["REDIS_URL"], directory) as redis,
    ):
        async with httpx.AsyncClient(base_url=app.base_url, timeout=10.0) as http:
            tenant = await make_tenant(http, prefix="promcfg")
            assert (await http.get("/items", headers=tenant.headers)).status_code == 200
        targets = {"cobreja": urlsplit(app.base_url).netloc, "postgres": postgres, "redis": redis}
        config = rewritten_prometheus(directory, targets, token_file=token_file)
        with running_prometheus(config, directory) as prometheus:
            yield Stack(prometheus, app, token_file)


def target(stack: Stack, job: str) -> dict[str, Any] | None:
    """Prometheus' view of `job`'s target once it has been scraped (health not "unknown"), else None."""
    targets = stack.prometheus.api("targets", state="active")["activeTargets"]
    found = next((t for t in targets if t["labels"]["job"] == job), None)
    return found if found is not None and found["health"] != "unknown" else None


def value(stack: Stack, promql: str) -> float | None:
    """The value of a one-series query, None while it has none."""
    result = stack.prometheus.query(promql)
    assert len(result) <= 1, result
    return float(result[0]["value"][1]) if result else None


@needs_prometheus
@needs_exporters
def test_prometheus_scrapes_the_app_with_its_token_and_both_exporters(stack: Stack) -> None:
    """With the project's config, every job is up, and the app's and exporters' own series are stored.

    `up{job="cobreja"} == 1` against an app that answers 401 without the token means the bearer token
    from credentials_file was sent; the request counter with the /items route proves a real app series
    arrived, and pg_up / redis_up that the exporters reach their servers.
    """
    for job in ("cobreja", "postgres", "redis"):
        seen = poll(partial(target, stack, job), lambda found: found is not None)
        assert seen is not None, f"{job} never scraped\n{stack.prometheus.log_tail()}"
        assert seen["health"] == "up", f"{job}: {seen['lastError']}"
        assert value(stack, f'up{{job="{job}"}}') == 1.0
    query = 'sum(http_requests_total{job="cobreja", path="/items", method="GET", status_code="200"})'
    assert poll(lambda: value(stack, query), lambda v: v is not None and v >= 1) == 1.0
    assert value(stack, 'pg_up{job="postgres"}') == 1.0
    assert value(stack, 'redis_up{job="redis"}') == 1.0
    anonymous = httpx.get(stack.app.url("/metrics"), timeout=5.0)
    assert anonymous.status_code == 401, "the app serves /metrics without the token: the scrape proves nothing"


@needs_prometheus
@needs_exporters
def test_rules_evaluate_cleanly_and_stay_quiet_on_a_healthy_stack(stack: Stack) -> None:
    """Prometheus loads every alert of the repo's rules, evaluates each on real series without error, none active.

    Health "ok" means the expression ran against the real scraped data (a type error, such as dividing
    vectors whose labels never match, would show as "err"); a healthy app and exporters must raise nothing.
    """
    expected = {rule["alert"] for rule in alert_rules()}

    def loaded() -> list[dict[str, Any]]:
        groups = stack.prometheus.api("rules", type="alert")["groups"]
        return [rule for group in groups for rule in group["rules"]]

    rules = poll(loaded, lambda rs: bool(rs) and all(rule["health"] != "unknown" for rule in rs))
    assert {rule["name"] for rule in rules} == expected
    for rule in rules:
        assert rule["health"] == "ok", f"{rule['name']}: {rule.get('lastError')}"
        assert rule["state"] == "inactive", f"{rule['name']} is {rule['state']}: {rule['alerts']}"


@needs_prometheus
@needs_exporters
def test_a_wrong_token_takes_the_app_target_down_with_a_401(stack: Stack) -> None:
    """Rewriting the token file to a wrong token makes the next scrapes fail with 401; the right one restores them.

    Prometheus reads credentials_file on every scrape (so a rotated compose secret needs no reload), and
    the app checks what it sends: the target goes down with the 401 in lastError, and back up after.
    """
    stack.token_file.write_text("not-the-token")
    try:
        down = poll(lambda: target(stack, "cobreja"), lambda t: t is not None and t["health"] == "down")
        assert down is not None, "the app's target vanished"
        assert down["health"] == "down", down
        assert "401" in down["lastError"], down["lastError"]
        assert value(stack, 'up{job="cobreja"}') == 0.0
    finally:
        stack.token_file.write_text(TOKEN)
    up = poll(lambda: target(stack, "cobreja"), lambda t: t is not None and t["health"] == "up")
    assert up is not None, "the app's target vanished"
    assert up["health"] == "up", up
