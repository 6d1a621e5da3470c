"""The Grafana dashboards as data: their panels, targets and variables, and the PromQL they run.

Grafana is not runnable here, so the dashboards are checked as documents: against the project's
schema, for layout, for datasource uids, and by parsing every Prometheus query (after substituting
Grafana's variables) and naming every metric it selects, so the test can compare those names with
what the app and the exporters really expose. Also a TCP relay that can be cut, to make the app's
Redis fail mid-run (its Redis error counter only has series once a command failed).
"""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import promql_parser
import yaml

from tests.support.observability import OBSERVABILITY

GRAFANA = OBSERVABILITY / "grafana"
DASHBOARDS_DIR = GRAFANA / "dashboards"
DASHBOARD_FILES = sorted(DASHBOARDS_DIR.glob("*.json"))
SCHEMA_FILE = GRAFANA / "dashboard.schema.json"
DATASOURCES_FILE = GRAFANA / "provisioning" / "datasources" / "datasources.yaml"
K6_METRICS_FILE = GRAFANA / "k6-metrics.txt"

# Grafana's built-in variables, as a value Prometheus accepts where each may stand.
BUILTIN_VALUES = {
    "__rate_interval": "1m",
    "__interval": "1m",
    "__range": "1h",
    "__range_s": "3600",
    "__interval_ms": "60000",
}
# A query variable becomes one plain label value: the expression must parse whatever is chosen.
VARIABLE_VALUE = "sample"
VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")

# A Loki stream selector: `{label op "value", ...}` with op one of = != =~ !~ (LogQL's own syntax).
LABEL_MATCHER = r'\s*[a-zA-Z_][a-zA-Z0-9_]*\s*(=~|!~|!=|=)\s*"(?:[^"\\]|\\.)*"\s*'
STREAM_SELECTOR = re.compile(r"\{" + LABEL_MATCHER + r"(," + LABEL_MATCHER + r")*\}")
LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(?:(?P<metric>.+?)\s*,\s*)?(?P<label>[a-zA-Z_]\w*)\s*\)\s*$")


def load_dashboard(path: Path) -> dict[str, Any]:
    """A dashboard JSON file, parsed."""
    document: dict[str, Any] = json.loads(path.read_text())
    return document


def provisioned_datasources() -> dict[str, str]:
    """The provisioned datasources, uid -> type, from datasources.yaml."""
    document = yaml.safe_load(DATASOURCES_FILE.read_text())
    return {source["uid"]: source["type"] for source in document["datasources"]}


def k6_metric_names() -> set[str]:
    """The names k6 writes to Prometheus, from the documented list (comments and blanks skipped)."""
    lines = (line.strip() for line in K6_METRICS_FILE.read_text().splitlines())
    return {line for line in lines if line and not line.startswith("#")}


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, rows included, and the panels nested in collapsed rows."""
    found = []
    for panel in dashboard.get("panels", []):
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


@dataclass(frozen=True)
class Query:
    """One query of a dashboard: where it is, which datasource runs it, and its text."""

    dashboard: str
    where: str
    """`panel <id> "<title>" target <refId>` or `variable <name>`: what a failure names."""
    datasource: dict[str, Any]
    expr: str
    values: tuple[tuple[str, str], ...]
    """The dashboard's variables and the value each stands for here (see `variable_values`)."""
    variable: bool = False
    """A template variable's query (`label_values(...)`), not a panel target."""

    @property
    def id(self) -> str:
        """The pytest id of this query."""
        return f"{self.dashboard}:{self.where}"


def datasource_of(target: dict[str, Any], panel: dict[str, Any]) -> dict[str, Any]:
    """The datasource a target runs on: its own, or its panel's (Grafana's rule)."""
    source: dict[str, Any] = target.get("datasource") or panel.get("datasource") or {}
    return source


def queries(path: Path) -> list[Query]:
    """Every panel target with an expression and every query variable of the dashboard at `path`."""
    dashboard = load_dashboard(path)
    values = tuple(variable_values(dashboard).items())
    found = []
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            if "expr" in target:
                where = f'panel {panel["id"]} "{panel["title"]}" target {target["refId"]}'
                found.append(Query(path.stem, where, datasource_of(target, panel), target["expr"], values))
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            query = variable["query"]
            expr = query["query"] if isinstance(query, dict) else query
            found.append(Query(path.stem, f"variable {variable['name']}", variable["datasource"], expr, values,
                               variable=True))
    return found


def variable_values(dashboard: dict[str, Any]) -> dict[str, str]:
    """Each template variable of a dashboard and a value for it: a query variable's stand-in, another's current value.

    A custom variable may sit where only a number parses (`topk($top, ...)`), so it gets the value the
    dashboard opens with; a query variable (label values) is always a label value.
    """
    values = {}
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable["type"] == "query":
            values[variable["name"]] = VARIABLE_VALUE
        else:
            current = variable.get("current", {}).get("value", "")
            values[variable["name"]] = VARIABLE_VALUE if current in ("$__all", ["$__all"]) else str(current)
    return values


def used_variables(text: str) -> set[str]:
    """The names of the Grafana variables `text` refers to (`$name`, `${name}`, `${name:format}`, `[[name]]`)."""
    return {next(group for group in match.groups() if group) for match in VARIABLE.finditer(text)}


def datasource_refs(dashboard: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every datasource reference of a dashboard (panels, targets, variables, annotations), with where it is."""
    refs = []
    for panel in panels(dashboard):
        if "datasource" in panel:
            refs.append((f'panel {panel["id"]} "{panel["title"]}"', panel["datasource"]))
        for target in panel.get("targets", []):
            if "datasource" in target:
                refs.append((f'panel {panel["id"]} target {target.get("refId")}', target["datasource"]))
    for variable in dashboard.get("templating", {}).get("list", []):
        if "datasource" in variable:
            refs.append((f"variable {variable['name']}", variable["datasource"]))
    for annotation in dashboard.get("annotations", {}).get("list", []):
        refs.append((f"annotation {annotation.get('name')}", annotation["datasource"]))
    return refs


def substituted(expr: str, values: dict[str, str]) -> str:
    """`expr` with Grafana's variables replaced: built-ins by a fixed interval, the dashboard's by `values`.

    A name that is neither fails: Grafana would send it to the datasource as written.
    """

    def value(match: re.Match[str]) -> str:
        name = next(group for group in match.groups() if group)
        known = BUILTIN_VALUES.get(name, values.get(name))
        assert known is not None, f"${name} in {expr!r} is no variable of the dashboard nor a built-in"
        return known

    return VARIABLE.sub(value, expr)


def promql_of(query: Query) -> str:
    """The PromQL a query runs: a target's expression, or the metric selector of `label_values(metric, label)`.

    Grafana's other variable functions would need cases of their own; the dashboards use only this one.
    """
    expr = substituted(query.expr, dict(query.values))
    if not query.variable:
        return expr
    match = LABEL_VALUES.match(expr)
    assert match, f"{query.id}: not label_values(metric, label): {query.expr!r}"
    assert match.group("metric"), f"{query.id}: label_values without a metric lists every series: {query.expr!r}"
    return match.group("metric")


def selected_names(promql: str) -> set[str]:
    """The metric names a PromQL expression selects (plain, in ranges and subqueries, or as `__name__="..."`)."""
    names: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            if node.name:
                names.add(node.name)
            for matcher in node.matchers.matchers:
                if matcher.name == "__name__":
                    assert matcher.op == promql_parser.MatchOp.Equal, (
                        f"__name__ matched with {matcher.op} in {promql!r}: the names it selects cannot be checked"
                    )
                    names.add(matcher.value)

    promql_parser.walk(promql_parser.parse(promql), visit)
    assert names, f"{promql!r} selects no metric"
    return names


def matched_labels(promql: str) -> set[tuple[str, str]]:
    """(metric name, label) of every label matcher on a named selector of a PromQL expression."""
    found: set[tuple[str, str]] = set()

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector) and node.name:
            found.update((node.name, matcher.name) for matcher in node.matchers.matchers if matcher.name != "__name__")

    promql_parser.walk(promql_parser.parse(promql), visit)
    return found


def grouping_labels(promql: str) -> list[tuple[tuple[str, ...], set[str]]]:
    """For each `by (...)` aggregation of a PromQL expression: its labels, and the metric names it aggregates."""
    found: list[tuple[tuple[str, ...], set[str]]] = []

    def visit(node: Any) -> None:
        by = isinstance(node, promql_parser.AggregateExpr) and node.modifier is not None and (
            node.modifier.type == promql_parser.AggModifierType.By)
        if by:
            found.append((tuple(node.modifier.labels), selected_names(str(node.expr))))

    promql_parser.walk(promql_parser.parse(promql), visit)
    return found


def overlaps(a: dict[str, int], b: dict[str, int]) -> bool:
    """Whether two gridPos rectangles share any cell."""
    across = a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"]
    return across and a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"]


@dataclass
class Relay:
    """A TCP relay to `target` on 127.0.0.1:`port`, until cut: then every connection drops and new ones are refused."""

    port: int
    target: tuple[str, int]
    listener: socket.socket
    connections: list[socket.socket]
    lock: threading.Lock

    def cut(self) -> None:
        """Close the listener and every relayed connection: whoever used the relay now sees its server gone."""
        with self.lock:
            with suppress(OSError):
                self.listener.close()
            for connection in self.connections:
                with suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
                with suppress(OSError):
                    connection.close()
            self.connections.clear()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    with suppress(OSError):
        while chunk := source.recv(65536):
            sink.sendall(chunk)
    with suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


@contextmanager
def relay(host: str, port: int) -> Iterator[Relay]:
    """A Relay to host:port on a free port, relaying in daemon threads until exit (or until cut)."""
    listener = socket.create_server(("127.0.0.1", 0))
    state = Relay(listener.getsockname()[1], (host, port), listener, [], threading.Lock())

    def accept() -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            upstream = socket.create_connection(state.target)
            with state.lock:
                state.connections.extend((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(source, sink), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield state
    finally:
        state.cut()
