"""Grafana dashboards (SPEC O7): schema-valid, laid out on the grid, on the provisioned datasources, real metrics.

Grafana cannot run here, so each dashboard is checked as data. Every Prometheus expression (Grafana's
variables substituted) must parse in a real Prometheus and in `promql_parser`, and every metric it selects
must be in the live exposition of a running app after traffic that makes each family appear, or of the
real postgres-exporter and redis-exporter watching the test servers; the k6 dashboard's names come from the
documented list `observability/grafana/k6-metrics.txt`. Label matchers and `by (...)` labels must be labels
those series carry (or `job`/`instance`, which Prometheus adds). LogQL cannot be parsed here: Loki targets
are held to the `loki` datasource and a well-formed stream selector on the service's stream.
"""

from __future__ import annotations

import asyncio
import copy
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import jsonschema
import promql_parser
import pytest

from app.telemetry.gauges import RETRY_SECONDS, SAMPLE_INTERVAL_SECONDS
from tests.ops.dashboards import (
    BUILTIN_VALUES,
    DASHBOARD_FILES,
    DATASOURCES_FILE,
    K6_METRICS_FILE,
    LABEL_VALUES,
    SCHEMA_FILE,
    STREAM_SELECTOR,
    Query,
    datasource_refs,
    grouping_labels,
    k6_metric_names,
    load_dashboard,
    matched_labels,
    overlaps,
    panels,
    promql_of,
    provisioned_datasources,
    queries,
    relay,
    selected_names,
    substituted,
    used_variables,
)
from tests.ops.traffic import exercise_items_api
from tests.support.observability import (
    DOCKER,
    exposed_labels,
    exposed_names,
    needs_exporters,
    needs_prometheus,
    running_postgres_exporter,
    running_prometheus,
    running_redis_exporter,
)
from tests.support.servers import app_env, serving
from tests.support.tenants import ADMIN_HEADERS, make_tenant

EXPECTED_DASHBOARDS = {"api-overview", "tenants-auth", "postgresql", "redis", "k6-load-test", "logs"}
K6_DASHBOARD = "k6-load-test"
TARGET_LABELS = {"job", "instance"}
"""Labels Prometheus attaches to every scraped series; no exposition carries them."""
ALWAYS_THERE = {"up"}
"""Series Prometheus writes itself for each scrape target."""
SAMPLER_SECONDS = SAMPLE_INTERVAL_SECONDS + 2 * RETRY_SECONDS + 5
METRICS_MD = DOCKER / "k6" / "METRICS.md"

DASHBOARDS = {path.stem: path for path in DASHBOARD_FILES}
ALL_QUERIES = [query for path in DASHBOARD_FILES for query in queries(path)]
PROMQL = [query for query in ALL_QUERIES if query.datasource.get("type") == "prometheus"]
LOGQL = [query for query in ALL_QUERIES if query.datasource.get("type") == "loki"]


def by_dashboard() -> Any:
    """Parametrize a test over the dashboard files, by name."""
    return pytest.mark.parametrize("path", DASHBOARD_FILES, ids=[path.stem for path in DASHBOARD_FILES])


def by_query(found: list[Query]) -> Any:
    """Parametrize a test over queries, each named by its dashboard, panel and refId (or variable)."""
    return pytest.mark.parametrize("query", found, ids=[query.id for query in found])


# ---------------------------------------------------------------------------------------------- documents


def test_the_six_dashboards_exist_with_unique_uids_and_titles() -> None:
    """API overview, tenants & auth, PostgreSQL, Redis, k6 and logs are there, and no two share a uid or title."""
    assert set(DASHBOARDS) == EXPECTED_DASHBOARDS
    documents = [load_dashboard(path) for path in DASHBOARD_FILES]
    uids = [document["uid"] for document in documents]
    titles = [document["title"] for document in documents]
    assert len(set(uids)) == len(uids), uids
    assert len(set(titles)) == len(titles), titles


def test_the_schema_is_valid_draft_2020_12() -> None:
    """dashboard.schema.json is itself a valid JSON Schema of the draft it declares."""
    schema = jsonschema_document()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


@by_dashboard()
def test_dashboard_validates_against_the_schema(path: Path) -> None:
    """The dashboard satisfies the project's schema (required fields, grid bounds, datasource refs, targets)."""
    validator = jsonschema.Draft202012Validator(jsonschema_document())
    errors = [f"{error.json_path}: {error.message}" for error in validator.iter_errors(load_dashboard(path))]
    assert not errors, "\n".join(errors[:20])


BROKEN = {
    "panel past the grid's right edge": lambda d: first_panel(d)["gridPos"].update(x=20, w=6),
    "datasource uid not provisioned": lambda d: first_panel(d)["datasource"].update(uid="prom"),
    "datasource uid of another type": lambda d: first_panel(d)["datasource"].update(type="loki"),
    "extra field in a datasource ref": lambda d: first_panel(d)["datasource"].update(name="Prometheus"),
    "target without refId": lambda d: first_panel(d)["targets"][0].pop("refId"),
    "target without expr": lambda d: first_panel(d)["targets"][0].pop("expr"),
    "panel without gridPos": lambda d: first_panel(d).pop("gridPos"),
    "panel without datasource": lambda d: first_panel(d).pop("datasource"),
    "old schemaVersion": lambda d: d.update(schemaVersion=27),
    "no cobreja tag": lambda d: d.update(tags=["api"]),
}


@pytest.mark.parametrize("breakage", list(BROKEN), ids=list(BROKEN))
def test_the_schema_rejects_a_broken_dashboard(breakage: str) -> None:
    """The schema is strict where it matters: each of these breakages of a valid dashboard is an error."""
    dashboard = copy.deepcopy(load_dashboard(DASHBOARDS["api-overview"]))
    BROKEN[breakage](dashboard)
    assert not jsonschema.Draft202012Validator(jsonschema_document()).is_valid(dashboard)


@by_dashboard()
def test_panel_ids_are_unique(path: Path) -> None:
    """No two panels of a dashboard (rows included) share an id: Grafana links and edits panels by id."""
    ids = [panel["id"] for panel in panels(load_dashboard(path))]
    assert len(set(ids)) == len(ids), sorted(ids)


@by_dashboard()
def test_panels_do_not_overlap(path: Path) -> None:
    """No two panels of a dashboard share a grid cell (Grafana would push one down, breaking the layout)."""
    placed = panels(load_dashboard(path))
    clashes = [(a["title"], b["title"]) for a, b in combinations(placed, 2) if overlaps(a["gridPos"], b["gridPos"])]
    assert not clashes


def test_the_schema_allows_exactly_the_provisioned_datasources() -> None:
    """The schema's datasource uids and types are those of datasources.yaml (one source of truth, two copies)."""
    assert DATASOURCES_FILE.is_file(), f"{DATASOURCES_FILE} is missing: the dashboards' datasources are unprovisioned"
    datasource = jsonschema_document()["$defs"]["datasource"]
    pairs = {(branch["properties"]["uid"]["const"], branch["properties"]["type"]["const"])
             for branch in datasource["oneOf"]}
    assert pairs == set(provisioned_datasources().items())


@by_dashboard()
def test_every_datasource_is_a_provisioned_one(path: Path) -> None:
    """Panels, targets, variables and annotations name only datasources that datasources.yaml provisions.

    By uid and with its type: an unknown uid shows "datasource not found" on every panel.
    """
    assert DATASOURCES_FILE.is_file(), f"{DATASOURCES_FILE} is missing: the dashboards' datasources are unprovisioned"
    provisioned = provisioned_datasources()
    wrong = [(where, ref) for where, ref in datasource_refs(load_dashboard(path))
             if provisioned.get(ref.get("uid")) != ref.get("type")]
    assert not wrong, f"provisioned: {provisioned}"


@by_dashboard()
def test_every_variable_used_is_defined(path: Path) -> None:
    """Titles and queries use only the dashboard's own variables and Grafana's built-ins.

    Anything else would reach the datasource (or the screen) as a literal `$name`.
    """
    dashboard = load_dashboard(path)
    defined = {variable["name"] for variable in dashboard["templating"]["list"]} | set(BUILTIN_VALUES)
    texts = [panel["title"] for panel in panels(dashboard)]
    texts += [target.get("expr", "") + target.get("legendFormat", "")
              for panel in panels(dashboard) for target in panel.get("targets", [])]
    texts += [str(variable.get("query", "")) for variable in dashboard["templating"]["list"]]
    assert set().union(*(used_variables(text) for text in texts)) <= defined


def test_api_latency_panels_show_exemplars() -> None:
    """Every latency chart target of the API overview asks for exemplars, so a dot on the chart opens its trace."""
    dashboard = load_dashboard(DASHBOARDS["api-overview"])
    latency = [(panel["title"], target) for panel in panels(dashboard) if panel["type"] == "timeseries"
               for target in panel.get("targets", []) if "http_request_duration_seconds_bucket" in target["expr"]]
    assert latency
    assert [title for title, target in latency if target.get("exemplar") is not True] == []


@by_query(LOGQL)
def test_loki_target_selects_the_service_stream(query: Query) -> None:
    """A Loki target runs on `loki` and each of its stream selectors is well formed and picks the service's stream.

    Well formed: a list of label matchers (`{label="value", ...}`). The stream is `service_name="cobreja"`,
    the label Loki derives from the OTLP resource attribute `service.name`.
    """
    assert query.datasource == {"type": "loki", "uid": "loki"}
    expr = substituted(query.expr, dict(query.values))
    streams = re.findall(r"\{[^{}]*\}", expr)
    assert streams, f"no stream selector in {expr!r}"
    for stream in streams:
        assert STREAM_SELECTOR.fullmatch(stream), stream
        assert re.search(r'service_name\s*=\s*"cobreja"', stream), stream
    assert expr.count("(") == expr.count(")"), expr
    assert expr.count("[") == expr.count("]"), expr


def test_logs_dashboard_links_to_tempo() -> None:
    """The logs dashboard explains the trace links and has a Tempo panel of slow traces."""
    dashboard = load_dashboard(DASHBOARDS["logs"])
    notes = [panel["options"]["content"] for panel in panels(dashboard) if panel["type"] == "text"]
    assert any("Tempo" in note and "trace_id" in note for note in notes)
    tempo = [target for panel in panels(dashboard) if panel["datasource"]["uid"] == "tempo"
             for target in panel["targets"]]
    assert tempo
    assert all(target["queryType"] == "traceql" and "resource.service.name" in target["query"] for target in tempo)


def test_the_k6_list_documents_its_origin_and_matches_the_scenarios_list() -> None:
    """k6-metrics.txt says how it was made and for which k6, and still fits.

    The bundled k6 is still the version it names, and its names are those docker/k6/METRICS.md lists (which
    the load-scenario tests check against a real run).
    """
    header = "\n".join(line for line in K6_METRICS_FILE.read_text().splitlines() if line.startswith("#"))
    for needed in ("experimental-prometheus-rw", "K6_PROMETHEUS_RW_TREND_STATS", "/api/v1/label/__name__/values",
                   "--web.enable-remote-write-receiver"):
        assert needed in header, needed
    version = re.search(r"k6 (v\d+\.\d+\.\d+)", header)
    assert version, header
    names = k6_metric_names()
    assert names
    assert [name for name in names if not re.fullmatch(r"k6_[a-z0-9_]+", name)] == []
    if METRICS_MD.is_file():
        assert names == set(re.findall(r"`(k6_[a-z0-9_]+)`", METRICS_MD.read_text()))
    k6 = shutil.which("k6") or str(Path(sys.executable).parent / "k6")
    if Path(k6).is_file():
        printed = subprocess.run([k6, "version"], capture_output=True, text=True, timeout=30, check=True).stdout
        assert printed.startswith(f"k6 {version.group(1)} "), (printed, version.group(1))


# ---------------------------------------------------------------------------------------------- PromQL


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real Prometheus with a config that scrapes nothing: it only parses queries."""
    directory = tmp_path_factory.mktemp("dashboards-prometheus")
    config = directory / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 1m\n")
    with running_prometheus(config, directory) as handle:
        yield handle


@needs_prometheus
@by_query(PROMQL)
def test_promql_parses(query: Query, prometheus: Any) -> None:
    """The expression, Grafana's variables substituted, parses in a real Prometheus and in promql_parser."""
    promql = promql_of(query)
    assert prometheus.parse_error(promql) is None, (promql, prometheus.parse_error(promql))
    promql_parser.parse(promql)


@dataclass(frozen=True)
class Live:
    """What a scrape of the app and of both exporters stores: series names, and the labels of each."""

    names: set[str]
    labels: dict[str, set[str]]


@pytest.fixture(scope="module")
async def live(server_urls: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Live:
    """A real `app run` after traffic that makes every family the dashboards chart appear, and both exporters.

    Traffic: a tenant created twice through the admin API (the second a 409 from a failed SQL statement:
    `db_query_errors_total`), item CRUD, requests without and with an unknown token (auth failures,
    exceptions), then Redis cut away from the app (its connection runs through a relay) and another tenant
    made, so Redis commands fail (`redis_command_errors_total`). The sampler's fleet gauges (tenants_total,
    migration_*) appear once it has read the registry; the fixture waits for them.
    """
    directory = tmp_path_factory.mktemp("dashboards-live")
    redis = urlsplit(server_urls["REDIS_URL"])
    assert redis.hostname
    assert redis.port
    with relay(redis.hostname, redis.port) as redis_relay:
        env = app_env(**{**server_urls, "REDIS_URL": f"redis://127.0.0.1:{redis_relay.port}{redis.path}"})
        with (
            serving(env, directory / "app.log") as app,
            running_postgres_exporter(server_urls["DATABASE_URL"], directory) as postgres,
            running_redis_exporter(server_urls["REDIS_URL"], directory) as redis_exporter,
        ):
            async with httpx.AsyncClient(base_url=app.base_url, timeout=10.0) as http:
                tenant = await make_tenant(http, prefix="dash")
                again = await http.post("/admin/tenants", json={"slug": tenant.slug}, headers=ADMIN_HEADERS)
                assert again.status_code == 409, again.text
                await exercise_items_api(http, tenant)
                redis_relay.cut()
                later = await make_tenant(http, prefix="dash")
                assert (await http.get("/items", headers=later.headers)).status_code == 200
                expositions = [await complete_exposition(http)]
                for exporter in (postgres, redis_exporter):
                    expositions.append((await http.get(f"http://{exporter}/metrics")).text)
    labels = {name: set(seen) for name, seen in exposed_labels(*expositions).items()}
    return Live(set().union(*(exposed_names(exposition) for exposition in expositions)), labels)


async def complete_exposition(http: httpx.AsyncClient) -> str:
    """The app's /metrics once the sampler has published the fleet gauges and the Redis failures show."""
    deadline = time.monotonic() + SAMPLER_SECONDS
    needed = ("\nmigration_failures_total ", "\ntenants_total{", "\nredis_command_errors_total{")
    while True:
        text = (await http.get("/metrics")).text
        if all(line in text for line in needed):
            return text
        assert time.monotonic() < deadline, f"/metrics lacks one of {needed} after {SAMPLER_SECONDS}s:\n{text}"
        await asyncio.sleep(0.25)


@needs_exporters
@by_query(PROMQL)
def test_promql_selects_only_metrics_that_exist(query: Query, live: Live) -> None:
    """Every metric the query selects exists: exposed by the running app or an exporter, or `up`.

    On the k6 dashboard every one is a name k6 writes, and no other dashboard uses k6's names.
    """
    names = selected_names(promql_of(query))
    k6 = k6_metric_names()
    if query.dashboard == K6_DASHBOARD:
        assert names <= k6, sorted(names - k6)
    else:
        assert not names & k6, sorted(names & k6)
        assert names <= live.names | ALWAYS_THERE, sorted(names - live.names - ALWAYS_THERE)


@needs_exporters
@by_query([query for query in PROMQL if query.dashboard != K6_DASHBOARD])
def test_promql_labels_exist_on_the_series(query: Query, live: Live) -> None:
    """Each label the query matches on, groups by or (a variable) lists is on the series it selects.

    Or added by Prometheus (job, instance). A misspelt label matches nothing: the panel stays empty, no error.

    k6's series are left out: the documented list has their names only.
    """
    promql = promql_of(query)
    missing = [(name, label) for name, label in matched_labels(promql)
               if label not in live.labels.get(name, set()) | TARGET_LABELS]
    for grouped, names in grouping_labels(promql):
        carried = set().union(*(live.labels.get(name, set()) for name in names)) | TARGET_LABELS
        missing += [(",".join(sorted(names)), label) for label in grouped if label not in carried]
    if query.variable:
        listed = LABEL_VALUES.match(substituted(query.expr, dict(query.values)))
        assert listed
        carried = set().union(*(live.labels.get(name, set()) for name in selected_names(promql))) | TARGET_LABELS
        missing += [(promql, listed.group("label"))] if listed.group("label") not in carried else []
    assert not missing


# ---------------------------------------------------------------------------------------------- helpers


def jsonschema_document() -> dict[str, Any]:
    """The project's dashboard schema."""
    return load_dashboard(SCHEMA_FILE)


def first_panel(dashboard: dict[str, Any]) -> dict[str, Any]:
    """The first panel of a dashboard that is not a row."""
    return next(panel for panel in dashboard["panels"] if panel["type"] != "row")
