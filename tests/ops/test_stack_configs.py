"""O7/O9: the collector, Tempo, Loki and Grafana provisioning configs, checked as data against the stack.

None of these four runs here, so each config is read with yaml.safe_load and held to what the stack around
it fixes: compose's service names and ports, the volumes it mounts, the datasource uids the dashboards use,
and the app's real log lines (a live `app run` writes the structured.jsonl the collector and Grafana parse).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml

from app.settings import LOG_LEVELS
from tests.support.observability import DOCKER, OBSERVABILITY
from tests.support.servers import app_env, serving

COMPOSE: dict[str, Any] = yaml.safe_load((DOCKER / "compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
COLLECTOR: dict[str, Any] = yaml.safe_load((OBSERVABILITY / "otel-collector" / "config.yaml").read_text())
TEMPO: dict[str, Any] = yaml.safe_load((OBSERVABILITY / "tempo" / "tempo.yaml").read_text())
LOKI: dict[str, Any] = yaml.safe_load((OBSERVABILITY / "loki" / "loki.yaml").read_text())
PROVISIONING = OBSERVABILITY / "grafana" / "provisioning"
DATASOURCES_TEXT = (PROVISIONING / "datasources" / "datasources.yaml").read_text()
DATASOURCES: list[dict[str, Any]] = yaml.safe_load(DATASOURCES_TEXT)["datasources"]
DASHBOARDS: dict[str, Any] = yaml.safe_load((PROVISIONING / "dashboards" / "dashboards.yaml").read_text())

PORTS = {"tempo": {3200, 4317, 4318}, "loki": {3100}, "prometheus": {9090}, "alertmanager": {9093}}
"""Ports each backend listens on inside the compose network."""
UIDS = {"prometheus": ("prometheus", "prometheus", 9090), "tempo": ("tempo", "tempo", 3200),
        "loki": ("loki", "loki", 3100), "alertmanager": ("alertmanager", "alertmanager", 9093)}
"""Datasource uid -> (type, compose service, port)."""
SECTIONS = ("receivers", "processors", "exporters", "connectors")


def volume_target(service: str, volume: str) -> str:
    """Where `service` mounts the named `volume`."""
    for entry in SERVICES[service]["volumes"]:
        source, target, *_ = entry.split(":")
        if source == volume:
            return target
    raise AssertionError(f"{service} does not mount {volume}")


def strings(node: Any) -> list[str]:
    """Every string value in a parsed YAML document."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [text for value in node.values() for text in strings(value)]
    if isinstance(node, list):
        return [text for value in node for text in strings(value)]
    return []


def host_port(endpoint: str) -> tuple[str, int]:
    """(host, port) of `host:port` or of a URL."""
    parts = urlsplit(endpoint if "://" in endpoint else f"//{endpoint}")
    assert parts.hostname is not None, endpoint
    assert parts.port is not None, endpoint
    return parts.hostname, parts.port


# --- the collector -----------------------------------------------------------------------------------------

def test_collector_pipelines_use_only_defined_components_and_every_defined_one() -> None:
    """Every receiver, processor and exporter a pipeline names is defined, and every defined one is in a pipeline.

    The collector refuses to start on an undefined name, and an unused definition is usually a pipeline
    someone forgot to wire.
    """
    pipelines = COLLECTOR["service"]["pipelines"]
    assert set(pipelines) == {"traces", "logs"}
    for section in ("receivers", "processors", "exporters"):
        used = {name for pipeline in pipelines.values() for name in pipeline.get(section, [])}
        assert used == set(COLLECTOR.get(section, {})), section
    assert set(COLLECTOR["service"]["extensions"]) == set(COLLECTOR["extensions"])
    for pipeline in pipelines.values():
        assert pipeline["receivers"], pipeline
        assert pipeline["exporters"], pipeline
        assert pipeline["processors"][0] == "memory_limiter", "the memory limiter must come first"
        assert pipeline["processors"][-1] == "batch", "batching comes last, after everything that filters"
    assert pipelines["traces"]["exporters"] == ["otlp/tempo"]
    assert pipelines["logs"]["receivers"] == ["filelog"]
    assert pipelines["logs"]["exporters"] == ["otlphttp/loki"]


def test_collector_listens_where_the_app_and_prometheus_reach_it() -> None:
    """OTLP on 0.0.0.0:4317/4318 (the app sends to otel-collector:4318) and its own metrics on 0.0.0.0:8888."""
    protocols = COLLECTOR["receivers"]["otlp"]["protocols"]
    assert protocols["grpc"]["endpoint"] == "0.0.0.0:4317"
    assert protocols["http"]["endpoint"] == "0.0.0.0:4318"
    app_endpoint = SERVICES["app"]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"]
    assert host_port(app_endpoint) == ("otel-collector", 4318)
    (reader,) = COLLECTOR["service"]["telemetry"]["metrics"]["readers"]
    assert reader["pull"]["exporter"]["prometheus"] == {"host": "0.0.0.0", "port": 8888}  # noqa: S104 (a value read)
    assert COLLECTOR["extensions"]["health_check"]["endpoint"] == "0.0.0.0:13133"


def test_collector_exports_to_compose_services_on_their_ports() -> None:
    """Traces go to tempo:4317 (OTLP gRPC) and logs to Loki's native OTLP endpoint http://loki:3100/otlp."""
    for name, exporter in COLLECTOR["exporters"].items():
        host, port = host_port(exporter["endpoint"])
        assert host in PORTS, f"{name} points at {host}, not a backend of the stack"
        assert port in PORTS[host], f"{name}: {host} does not listen on {port}"
    assert COLLECTOR["exporters"]["otlp/tempo"]["endpoint"] == "tempo:4317"
    tempo_grpc = TEMPO["distributor"]["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"]
    assert host_port(tempo_grpc)[1] == 4317
    assert COLLECTOR["exporters"]["otlphttp/loki"]["endpoint"] == "http://loki:3100/otlp"
    assert LOKI["server"]["http_listen_port"] == 3100


def test_collector_reads_the_apps_structured_log_from_the_shared_volume() -> None:
    """The file log receiver reads structured.jsonl in the app's LOG_DIR, which the collector mounts read-only."""
    log_dir = SERVICES["app"]["environment"]["LOG_DIR"]
    assert volume_target("app", "app-logs") == log_dir
    assert volume_target("otel-collector", "app-logs") == log_dir
    assert COLLECTOR["receivers"]["filelog"]["include"] == [f"{log_dir}/structured.jsonl"]


def test_collector_names_the_logs_service_as_the_traces_are_named() -> None:
    """Log records get service.name=cobreja, the app's OTEL_SERVICE_NAME, so logs and traces meet in Grafana."""
    (attribute,) = COLLECTOR["processors"]["resource/cobreja"]["attributes"]
    assert attribute == {"key": "service.name", "value": SERVICES["app"]["environment"]["OTEL_SERVICE_NAME"],
                         "action": "upsert"}


@pytest.fixture(scope="module")
def log_lines(server_urls: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Real structured.jsonl lines from `app run` with LOG_DIR: one access line with its response, one without a trace.

    Returns the raw access line, its parsed JSON, the response's X-Trace-Id, and a line logged outside any
    request (start-up).
    """
    directory = tmp_path_factory.mktemp("structured")
    log_dir = directory / "logs"
    env = app_env(**server_urls, LOG_DIR=str(log_dir), LOG_LEVEL="INFO")
    with serving(env, directory / "stdout.log") as server:
        response = httpx.get(server.url("/items"))  # no token: 401, still one access line with the trace id
        trace_id = response.headers["x-trace-id"]
        request_id = response.headers["x-request-id"]
        structured = log_dir / "structured.jsonl"
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            lines = structured.read_text().splitlines() if structured.exists() else []
            access = [line for line in lines if request_id in line]
            if access:
                break
            time.sleep(0.1)
        else:
            pytest.fail(f"no access line for request {request_id} in {structured}")
    untraced = [line for line in lines if "trace_id" not in json.loads(line)]
    assert untraced, "every line had a trace id; expected start-up lines without one"
    return {"line": access[0], "record": json.loads(access[0]), "trace_id": trace_id, "untraced": untraced[0]}


def test_collector_parses_the_fields_a_real_log_line_has(log_lines: dict[str, Any]) -> None:
    """The JSON parser's time, level, trace_id and span_id fields exist in a real line, in the formats configured.

    The time carries a UTC offset (the Go layout's Z07:00), the ids are 32 and 16 hex digits, and the
    severity mapping covers every level the app can log at.
    """
    operators = {operator["type"]: operator for operator in COLLECTOR["receivers"]["filelog"]["operators"]}
    parser = operators["json_parser"]
    assert (parser["parse_from"], parser["parse_to"]) == ("body", "attributes")
    record = log_lines["record"]
    fields = {
        "timestamp": parser["timestamp"]["parse_from"],
        "severity": parser["severity"]["parse_from"],
        "trace": operators["trace_parser"]["trace_id"]["parse_from"],
        "span": operators["trace_parser"]["span_id"]["parse_from"],
    }
    values = {}
    for role, field in fields.items():
        assert field.startswith("attributes."), field
        key = field.removeprefix("attributes.")
        assert key in record, f"{role}: a real line has no {key!r}: {record}"
        values[role] = record[key]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?[+-]\d\d:\d\d", values["timestamp"])
    assert parser["timestamp"]["layout"].endswith("Z07:00")
    assert values["trace"] == log_lines["trace_id"]
    assert re.fullmatch(r"[0-9a-f]{16}", values["span"])
    mapped = {level for levels in parser["severity"]["mapping"].values()
              for level in ([levels] if isinstance(levels, str) else levels)}
    assert mapped == set(LOG_LEVELS)
    assert values["severity"] in mapped


def test_collector_handles_lines_without_a_trace(log_lines: dict[str, Any]) -> None:
    """Lines logged outside a request have no trace_id: the trace parser and the removals only run when it is there."""
    assert "trace_id" not in json.loads(log_lines["untraced"])
    for operator in COLLECTOR["receivers"]["filelog"]["operators"]:
        if operator["type"] in ("trace_parser", "remove"):
            assert re.fullmatch(r"attributes\.(trace|span)_id != nil", operator["if"]), operator


# --- Prometheus' view of the stack ----------------------------------------------------------------------------

LISTENS = {"app": {8000}, "postgres-exporter": {9187}, "redis-exporter": {9121}, "otel-collector": {8888},
           "alertmanager": {9093}, "prometheus": {9090}, "tempo": {3200}, "loki": {3100}, "grafana": {3000}}
"""Ports each service serves HTTP on inside the compose network."""


def test_prometheus_scrapes_compose_services_on_their_ports_with_the_secret_token() -> None:
    """Every scrape and Alertmanager target is a compose service on a port it serves (or Prometheus itself).

    The app's job reads its bearer token from the file compose mounts the `metrics_token` secret at.
    """
    config = yaml.safe_load((OBSERVABILITY / "prometheus" / "prometheus.yml").read_text())
    targets = [(job["job_name"], target) for job in config["scrape_configs"]
               for static in job.get("static_configs", []) for target in static["targets"]]
    targets += [("alerting", target) for manager in config["alerting"]["alertmanagers"]
                for static in manager["static_configs"] for target in static["targets"]]
    for job, target in targets:
        host, port = host_port(target)
        service = "prometheus" if host == "localhost" else host
        assert service in LISTENS, f"{job}: {target} is not a service of the stack"
        assert port in LISTENS[service], f"{job}: {service} does not serve on {port}"
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert [target for static in jobs["cobreja"]["static_configs"] for target in static["targets"]] == ["app:8000"]
    assert jobs["cobreja"]["authorization"]["credentials_file"] == "/run/secrets/metrics_token"
    assert "metrics_token" in SERVICES["prometheus"]["secrets"]


# --- Tempo and Loki ----------------------------------------------------------------------------------------

def test_tempo_listens_on_3200_receives_otlp_and_keeps_blocks_on_its_volume() -> None:
    """Tempo serves Grafana on 3200, receives OTLP on every interface, and stores WAL and blocks on /var/tempo."""
    assert TEMPO["server"]["http_listen_port"] == 3200
    protocols = TEMPO["distributor"]["receivers"]["otlp"]["protocols"]
    assert protocols["grpc"]["endpoint"] == "0.0.0.0:4317"
    assert protocols["http"]["endpoint"] == "0.0.0.0:4318"
    trace = TEMPO["storage"]["trace"]
    assert trace["backend"] == "local"
    volume = volume_target("tempo", "tempo-data")
    for path in (trace["wal"]["path"], trace["local"]["path"]):
        assert Path(path).is_relative_to(volume), f"{path} is not on the volume {volume}"
    assert TEMPO["stream_over_http_enabled"] is True


def test_loki_is_a_single_binary_on_3100_with_tsdb_v13_and_structured_metadata() -> None:
    """Loki 3 on 3100 without auth, TSDB schema v13, OTLP attributes kept as structured metadata.

    Every path is on its volume, and the compactor enforces the retention period.
    """
    assert LOKI["server"]["http_listen_port"] == 3100
    assert LOKI["auth_enabled"] is False
    (schema,) = LOKI["schema_config"]["configs"]
    assert (schema["store"], schema["schema"], schema["object_store"]) == ("tsdb", "v13", "filesystem")
    assert LOKI["limits_config"]["allow_structured_metadata"] is True
    assert LOKI["common"]["replication_factor"] == 1
    assert LOKI["common"]["ring"]["kvstore"]["store"] == "inmemory"
    volume = volume_target("loki", "loki-data")
    filesystem = LOKI["common"]["storage"]["filesystem"]
    for path in (LOKI["common"]["path_prefix"], *filesystem.values(), LOKI["compactor"]["working_directory"]):
        assert Path(path).is_relative_to(volume), f"{path} is not on the volume {volume}"
    if LOKI["compactor"].get("retention_enabled"):
        assert LOKI["compactor"]["delete_request_store"] == schema["object_store"]
        assert LOKI["limits_config"]["retention_period"]


# --- Grafana provisioning -----------------------------------------------------------------------------------

def test_datasources_have_the_fixed_uids_and_point_at_compose_services() -> None:
    """Four datasources with the uids the dashboards use, each at its compose service and port."""
    by_uid = {source["uid"]: source for source in DATASOURCES}
    assert set(by_uid) == set(UIDS)
    for uid, (kind, service, port) in UIDS.items():
        source = by_uid[uid]
        assert source["type"] == kind, uid
        assert source["url"] == f"http://{service}:{port}", uid
        assert service in SERVICES, service
        assert source.get("access", "proxy") == "proxy", "the browser cannot reach compose service names"
    assert [source["uid"] for source in DATASOURCES if source.get("isDefault")] == ["prometheus"]


def test_every_datasource_link_names_a_provisioned_uid() -> None:
    """Exemplars (label `trace_id`) and log lines link to Tempo, traces to Loki; every uid referenced exists."""
    by_uid = {source["uid"]: source for source in DATASOURCES}
    referenced = re.findall(r"(?:datasourceUid|alertmanagerUid):\s*(\S+)", DATASOURCES_TEXT)
    assert referenced
    assert set(referenced) <= set(by_uid)
    (exemplar,) = by_uid["prometheus"]["jsonData"]["exemplarTraceIdDestinations"]
    assert (exemplar["name"], exemplar["datasourceUid"]) == ("trace_id", "tempo")
    to_logs = by_uid["tempo"]["jsonData"]["tracesToLogsV2"]
    assert to_logs["datasourceUid"] == "loki"
    assert to_logs["filterByTraceID"] is True
    assert {"key": "service.name", "value": "service_name"} in to_logs["tags"]
    (derived,) = by_uid["loki"]["jsonData"]["derivedFields"]
    assert derived["datasourceUid"] == "tempo"
    assert derived["url"] == "$${__value.raw}", "Grafana would expand an unescaped ${...} as an env variable"


def test_provisioning_escapes_every_dollar_grafana_would_expand() -> None:
    """Grafana expands $NAME and ${NAME} in provisioning values: every literal `$` there is written `$$`."""
    for path in PROVISIONING.rglob("*.yaml"):
        for value in strings(yaml.safe_load(path.read_text())):
            assert not re.search(r"\$[{A-Za-z_]", value.replace("$$", "")), f"{path.name}: {value!r} gets expanded"


def test_the_derived_field_regex_extracts_the_trace_id_from_a_real_log_line(log_lines: dict[str, Any]) -> None:
    """The Loki derived field's regex, applied to a structured.jsonl line the app wrote, yields the response's trace id.

    The body Loki stores is that line as written (the collector keeps it as the body). The regex stays in
    the subset Go's RE2 (Grafana) and Python's re agree on: no lookaround, no backreference, one group; on a
    line without a trace it matches nothing.
    """
    by_uid = {source["uid"]: source for source in DATASOURCES}
    (derived,) = by_uid["loki"]["jsonData"]["derivedFields"]
    pattern = derived["matcherRegex"]
    assert derived.get("matcherType", "regex") == "regex"
    assert not re.search(r"\(\?[=!<]|\\[1-9]|\(\?P", pattern), f"{pattern!r} is outside RE2's syntax"
    compiled = re.compile(pattern)
    assert compiled.groups == 1
    match = compiled.search(log_lines["line"])
    assert match, f"{pattern!r} does not match {log_lines['line']}"
    assert match.group(1) == log_lines["trace_id"]
    assert compiled.search(log_lines["untraced"]) is None


def test_dashboards_provider_reads_the_mounted_dashboards() -> None:
    """The file provider reads /var/lib/grafana/dashboards, where compose mounts observability/grafana/dashboards."""
    (provider,) = DASHBOARDS["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
    mounts = [entry.split(":") for entry in SERVICES["grafana"]["volumes"]]
    assert ["../observability/grafana/dashboards", "/var/lib/grafana/dashboards", "ro"] in mounts
    assert ["../observability/grafana/provisioning", "/etc/grafana/provisioning", "ro"] in mounts
    assert provider["disableDeletion"] is True
    assert provider["allowUiUpdates"] is False
