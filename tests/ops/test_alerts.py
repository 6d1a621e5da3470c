"""O8: the alert rules, their promtool unit tests, Alertmanager's config, and an alert delivered for real.

- promtool checks every rules file and runs every unit-test file; the unit tests are also read as data,
  to hold that each alert has a firing case and a quiet one;
- each rule has its `for:`, a severity that Alertmanager routes to the receiver of that name, and
  summary/description/runbook annotations; `amtool check-config` passes;
- each rule names only metrics (and labels) that a live `app run` after real traffic, or the real
  postgres-exporter and redis-exporter, expose, and selects only jobs prometheus.yml defines;
- a real Prometheus with a project rule forced to fire (APIDown, its target a closed port) delivers the
  alert to a real Alertmanager running the project's config, which routes it and posts it to a webhook;
  and Alertmanager's inhibition rules hold the symptoms of APIDown back.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.ops.prometheus_stack import (
    ALERTMANAGER_CONFIG,
    PROMETHEUS_CONFIG,
    RULE_FILES,
    RULE_TESTS,
    Selector,
    alert_rules,
    load,
    poll,
    rewritten_alertmanager,
    rewritten_prometheus,
    rules_with_for,
    scrape_jobs,
    selectors,
    webhook,
)
from tests.ops.traffic import exercise_items_api
from tests.support.observability import (
    AMTOOL,
    PROMTOOL,
    exposed_labels,
    exposed_names,
    needs_alertmanager,
    needs_exporters,
    needs_prometheus,
    running_alertmanager,
    running_postgres_exporter,
    running_prometheus,
    running_redis_exporter,
)
from tests.support.processes import free_port
from tests.support.servers import app_env, serving
from tests.support.tenants import MONITORING_PASSWORD, make_tenant

RULES = alert_rules()
ALERT_NAMES = sorted({rule["alert"] for rule in RULES})
SPEC_ALERTS = {"APIDown", "HighErrorRate", "HighLatency", "HighAuthFailures", "HighDatabaseConnections",
               "HighMemoryUsage", "PostgresDown", "RedisDown", "TenantMigrationFailed"}
SEVERITIES = {"critical", "warning"}
PROMETHEUS_OWN = {"up"}
"""Series Prometheus writes itself for every target, in no exposition."""
SCRAPE_LABELS = {"job", "instance"}
"""Labels Prometheus attaches to every scraped series."""
SAMPLER_SECONDS = 20.0
"""How long the app may take to publish its sampled gauges (read every 5 s, first read at start)."""


def run(*command: str) -> subprocess.CompletedProcess[str]:
    """Run a command (promtool, amtool) and return its result; it must not hang."""
    return subprocess.run(list(command), capture_output=True, text=True, timeout=60, check=False)


# --- the rules as files -------------------------------------------------------------------------------


def test_rules_define_every_alert_of_the_spec() -> None:
    """The rules files define exactly SPEC O8's alerts."""
    assert RULE_FILES, "no rule files in observability/prometheus/rules"
    assert set(ALERT_NAMES) == SPEC_ALERTS


@pytest.mark.parametrize("rule", RULES, ids=[f"{rule['alert']}-{i}" for i, rule in enumerate(RULES)])
def test_each_rule_waits_has_a_severity_and_explains_itself(rule: dict[str, Any]) -> None:
    """Every rule has an explicit `for:`, a severity of critical or warning, and summary, description, runbook."""
    assert "for" in rule, rule["alert"]
    assert rule["labels"]["severity"] in SEVERITIES, rule
    for annotation in ("summary", "description", "runbook"):
        assert rule["annotations"].get(annotation, "").strip(), f"{rule['alert']} has no {annotation}"


@needs_prometheus
@pytest.mark.parametrize("path", RULE_FILES, ids=[path.name for path in RULE_FILES])
def test_promtool_check_rules_passes(path: Path) -> None:
    """`promtool check rules` accepts each rules file (PromQL parses, templates compile, no duplicate rules)."""
    assert PROMTOOL is not None
    result = run(PROMTOOL, "check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


@needs_prometheus
@pytest.mark.parametrize("path", RULE_TESTS, ids=[path.name for path in RULE_TESTS])
def test_promtool_unit_tests_pass(path: Path) -> None:
    """`promtool test rules` passes on each unit-test file (every expected alert, labels and annotations)."""
    assert PROMTOOL is not None
    result = run(PROMTOOL, "test", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout, result.stdout


def test_unit_tests_cover_every_alert_firing_and_quiet() -> None:
    """Each alert is in some unit test expecting it to fire and in some expecting no alert; all rule files are tested.

    Read as data, so a rule added without tests (promtool would still pass) fails here.
    """
    assert RULE_TESTS, "no unit tests in observability/prometheus/tests"
    firing: set[str] = set()
    quiet: set[str] = set()
    tested_files: set[Path] = set()
    for path in RULE_TESTS:
        document = load(path)
        tested_files |= {(path.parent / name).resolve() for name in document["rule_files"]}
        for test in document["tests"]:
            for case in test.get("alert_rule_test", []):
                (firing if case.get("exp_alerts") else quiet).add(case["alertname"])
    assert tested_files == {path.resolve() for path in RULE_FILES}
    assert set(ALERT_NAMES) - firing == set(), "alerts with no firing case"
    assert set(ALERT_NAMES) - quiet == set(), "alerts with no quiet case"
    assert (firing | quiet) - set(ALERT_NAMES) == set(), "unit tests of alerts that do not exist"


def test_rules_select_only_jobs_prometheus_scrapes() -> None:
    """Every `job="..."` a rule selects is a job of prometheus.yml (a renamed job would silence its alerts)."""
    jobs = set(scrape_jobs(load(PROMETHEUS_CONFIG)))
    for rule in RULES:
        for selector in selectors(rule["expr"]):
            selected = {value for label, op, value in selector.matchers if label == "job" and op == "="}
            assert selected, f"{rule['alert']}: {selector.name} selects no job"
            assert selected <= jobs, f"{rule['alert']}: {selected - jobs} not in prometheus.yml"


# --- Alertmanager's config ---------------------------------------------------------------------------


@needs_alertmanager
def test_amtool_check_config_passes() -> None:
    """`amtool check-config` accepts alertmanager.yml as shipped (routes, receivers, inhibition rules)."""
    assert AMTOOL is not None
    result = run(AMTOOL, "check-config", str(ALERTMANAGER_CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout, result.stdout


@needs_alertmanager
@pytest.mark.parametrize("rule", RULES, ids=[f"{rule['alert']}-{i}" for i, rule in enumerate(RULES)])
def test_each_alert_routes_to_the_receiver_of_its_severity(rule: dict[str, Any]) -> None:
    """Alertmanager's routing tree (amtool) sends each rule's alert to the receiver named after its severity."""
    assert AMTOOL is not None
    labels = {"alertname": rule["alert"], **rule["labels"]}
    result = run(AMTOOL, "config", "routes", "test", f"--config.file={ALERTMANAGER_CONFIG}",
                 *(f"{name}={value}" for name, value in labels.items()))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.split() == [rule["labels"]["severity"]], result.stdout


# --- the rules against live expositions -------------------------------------------------------------


@dataclass(frozen=True)
class Live:
    """What a scrape of the app and of each exporter stores: series names, and each name's label names."""

    names: set[str]
    labels: dict[str, set[str]]
    values: dict[tuple[str, str], set[str]]
    """(series name, label) -> the values seen."""


async def sampled_exposition(http: httpx.AsyncClient) -> str:
    """The app's /metrics once the sampler has published the fleet gauges (within SAMPLER_SECONDS)."""
    deadline = time.monotonic() + SAMPLER_SECONDS
    while True:
        text = (await http.get("/metrics")).text
        if "\nmigration_failures_total " in text and "\ntenants_total{" in text:
            return text
        assert time.monotonic() < deadline, f"no fleet gauges in /metrics after {SAMPLER_SECONDS}s:\n{text}"
        await asyncio.sleep(0.25)


@pytest.fixture(scope="module")
async def live(server_urls: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Live:
    """The series of a real `app run` after traffic that makes every family appear, and of both real exporters.

    Traffic: a tenant created (admin API), an item created, listed, read, replaced, patched and deleted,
    requests with no and with an unknown token (auth failures), the probes, and scrapes. The fleet gauges
    (tenants_total, migration_*) appear once the sampler has read the registry, so the fixture waits for them.
    """
    directory = tmp_path_factory.mktemp("alerts-live")
    with (
        serving(app_env(**server_urls), directory / "app.log") as app,
        running_postgres_exporter(server_urls["DATABASE_URL"], directory) as postgres,
        running_redis_exporter(server_urls["REDIS_URL"], directory) as redis,
    ):
        async with httpx.AsyncClient(base_url=app.base_url, timeout=10.0) as http:
            await exercise_items_api(http, await make_tenant(http, prefix="alerts"))
            for probe in ("/health", "/health/ready"):
                assert (await http.get(probe)).status_code == 200
            detailed = await http.get("/health/detailed", auth=("monitoring", MONITORING_PASSWORD))
            assert detailed.status_code == 200, detailed.text

            expositions = [await sampled_exposition(http)]
            for exporter in (postgres, redis):
                expositions.append((await http.get(f"http://{exporter}/metrics")).text)
    series = exposed_labels(*expositions)
    labels = {name: set(seen) for name, seen in series.items()}
    values = {(name, label): found for name, seen in series.items() for label, found in seen.items()}
    return Live(set().union(*(exposed_names(exposition) for exposition in expositions)), labels, values)


def matches(op: str, pattern: str, value: str) -> bool:
    """Whether `value` is selected by the matcher `op pattern` (PromQL regexes are anchored)."""
    if op in ("=", "!="):
        return (value == pattern) == (op == "=")
    return (re.fullmatch(pattern, value) is not None) == (op == "=~")


@needs_exporters
@pytest.mark.parametrize("rule", RULES, ids=[f"{rule['alert']}-{i}" for i, rule in enumerate(RULES)])
def test_each_rule_names_only_live_metrics_and_labels(rule: dict[str, Any], live: Live) -> None:
    """Every series a rule selects is in a live exposition (or is Prometheus' `up`), with the labels it matches on.

    The walk over the parsed PromQL (promql_parser) finds the selectors inside functions, aggregations and
    range selectors. Each matcher's label must exist on that series (job/instance come from the scrape),
    and an exclusion (`!=`, `!~`) must exclude a value really seen, or it is dead code.
    """
    found: list[Selector] = selectors(rule["expr"])
    assert found, rule["expr"]
    for selector in found:
        if selector.name in PROMETHEUS_OWN:
            continue
        assert selector.name in live.names, f"{rule['alert']}: {selector.name} is in no live exposition"
        for label, op, pattern in selector.matchers:
            if label in SCRAPE_LABELS:
                continue
            known = live.labels.get(selector.name, set())
            assert label in known, f"{selector.name} has no label {label}, only {sorted(known)}"
            if op in ("!=", "!~"):
                seen = live.values.get((selector.name, label), set())
                assert any(not matches(op, pattern, value) for value in seen), (
                    f"{selector.name}{{{label}{op}{pattern!r}}} excludes none of {sorted(seen)}")


# --- a real delivery ---------------------------------------------------------------------------------


def alert_labels(alert: dict[str, Any]) -> dict[str, str]:
    """An Alertmanager alert's labels."""
    labels: dict[str, str] = alert["labels"]
    return labels


@needs_prometheus
@needs_alertmanager
def test_a_firing_rule_reaches_alertmanager_and_its_receivers(tmp_path: Path) -> None:
    """APIDown, forced to fire, shows in Alertmanager with its labels, routed to `critical`, and is POSTed to a webhook.

    Rewritten for the run (nothing else): Prometheus runs the project's prometheus.yml with only the
    cobreja job, its target a port nothing listens on, intervals 1 s, the Alertmanager target this test's,
    and the rules a copy of the repo's in which APIDown's `for:` is 1s instead of 1m; Alertmanager runs
    the project's alertmanager.yml with group waits of 1 s and a first route (`continue: true`) to a
    webhook receiver `observed`, so delivery is visible while the project's routes still pick theirs.
    """
    closed = f"127.0.0.1:{free_port()}"
    token = tmp_path / "metrics_token"
    token.write_text("unused: nothing answers")
    with webhook() as hook:
        am_config = rewritten_alertmanager(tmp_path, webhook_url=hook.url)
        with running_alertmanager(am_config, tmp_path) as alertmanager:
            rules = rules_with_for(tmp_path, "APIDown", "1s")
            config = rewritten_prometheus(tmp_path, {"cobreja": closed}, token_file=token,
                                          alertmanager=urlsplit(alertmanager).netloc,
                                          rule_files=[str(rules / "*.yml")])
            with running_prometheus(config, tmp_path) as prometheus:

                def api_down() -> list[dict[str, Any]]:
                    alerts = httpx.get(f"{alertmanager}/api/v2/alerts", timeout=5.0).json()
                    return [alert for alert in alerts if alert_labels(alert)["alertname"] == "APIDown"]

                received = poll(api_down, bool, timeout=30.0)
                assert received, f"no APIDown in Alertmanager\n{prometheus.log_tail()}"
                delivered = poll(lambda: hook.bodies, bool, timeout=15.0)
    [alert] = received
    assert alert_labels(alert) == {"alertname": "APIDown", "severity": "critical", "job": "cobreja",
                                   "instance": closed}
    assert alert["status"]["state"] == "active"
    assert alert["annotations"]["summary"] == "Cobreja API is down"
    assert {receiver["name"] for receiver in alert["receivers"]} == {"observed", "critical"}
    assert delivered, "the webhook received nothing"
    body = delivered[0]
    assert body["receiver"] == "observed"
    assert body["status"] == "firing"
    assert body["groupLabels"] == {"alertname": "APIDown", "severity": "critical"}
    assert [sent["labels"] for sent in body["alerts"]] == [alert_labels(alert)]


def posted(name: str, severity: str, job: str) -> dict[str, Any]:
    """An alert as Prometheus posts it to Alertmanager's API: firing now, for the next ten minutes."""
    now = datetime.now(UTC)
    return {"labels": {"alertname": name, "severity": severity, "job": job},
            "startsAt": now.isoformat(), "endsAt": (now + timedelta(minutes=10)).isoformat()}


@needs_alertmanager
def test_alertmanager_holds_back_the_symptoms_of_apidown(tmp_path: Path) -> None:
    """With APIDown active for job cobreja, the project's config suppresses HighLatency of cobreja, not RedisDown.

    The alerts are posted straight to a real Alertmanager's API (as Prometheus does); its status then
    says which are suppressed and by what.
    """
    with running_alertmanager(rewritten_alertmanager(tmp_path), tmp_path) as alertmanager:
        alerts = [posted("APIDown", "critical", "cobreja"), posted("HighLatency", "warning", "cobreja"),
                  posted("RedisDown", "warning", "redis")]
        response = httpx.post(f"{alertmanager}/api/v2/alerts", json=alerts, timeout=5.0)
        assert response.status_code == 200, response.text

        def states() -> dict[str, dict[str, Any]]:
            listed = httpx.get(f"{alertmanager}/api/v2/alerts", timeout=5.0).json()
            return {alert_labels(alert)["alertname"]: alert["status"] for alert in listed}

        status = poll(states, lambda s: s.get("HighLatency", {}).get("state") == "suppressed", timeout=15.0)
    assert status["HighLatency"]["state"] == "suppressed", status
    assert status["HighLatency"]["inhibitedBy"], status
    assert status["APIDown"]["state"] == "active", status
    assert status["RedisDown"]["state"] == "active", status
