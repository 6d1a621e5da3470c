"""Telemetry of a real `app run` process: OTLP export, JSON logs on stdout, log files, no secrets in any log."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.support.processes import free_port
from tests.support.servers import LiveServer, app_env, serving
from tests.support.sync import run_async
from tests.support.tenants import ADMIN_KEY, MONITORING_PASSWORD, Tenant, make_tenant

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
CALLER_SPAN_ID = "b7ad6b7169203331"
ACCESS_FIELDS = {"request_id", "trace_id", "span_id", "tenant", "method", "route", "status", "duration_ms", "client"}


@dataclass
class OtlpReceiver:
    """A minimal OTLP/HTTP traces endpoint: keeps every span it is sent, with its service name."""

    port: int
    spans: list[tuple[str, Any]] = field(default_factory=list)

    def spans_of(self, trace_id: str) -> list[tuple[str, Any]]:
        """(service name, span) pairs of one trace received so far."""
        return [(service, span) for service, span in list(self.spans) if span.trace_id.hex() == trace_id]


def start_receiver() -> tuple[OtlpReceiver, ThreadingHTTPServer]:
    """Serve POST /v1/traces on a free port in a background thread."""
    receiver = OtlpReceiver(free_port())

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            request = ExportTraceServiceRequest.FromString(body)
            for resource_spans in request.resource_spans:
                attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
                for scope_spans in resource_spans.scope_spans:
                    receiver.spans.extend((attributes.get("service.name", ""), s) for s in scope_spans.spans)
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", receiver.port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return receiver, server


@dataclass
class Observed:
    """The server under observation, its OTLP receiver, and where its logs go."""

    server: LiveServer
    receiver: OtlpReceiver
    stdout: Path
    log_dir: Path


@pytest.fixture(scope="module")
def observed(server_urls: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Observed]:
    """`app run` exporting to a local OTLP receiver, logging DEBUG to stdout and to LOG_DIR."""
    receiver, http_server = start_receiver()
    directory = tmp_path_factory.mktemp("observed")
    stdout, log_dir = directory / "stdout.log", directory / "logs"
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{receiver.port}",
        "OTEL_SERVICE_NAME": "cobreja-under-test",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "LOG_LEVEL": "DEBUG",
        "LOG_DIR": str(log_dir),
        "SLOW_REQUEST_MS": "0.001",
    }
    try:
        with serving(app_env(**server_urls, **env), stdout, stderr_path=directory / "stderr.log") as server:
            yield Observed(server, receiver, stdout, log_dir)
    finally:
        http_server.shutdown()


def wait_for(condition: Any, timeout: float = 10.0) -> Any:
    """Poll `condition()` until it returns something truthy, or fail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.1)
    pytest.fail("condition not met in time")


async def new_tenant(base_url: str) -> Tenant:
    """A fresh tenant created through the admin API of the server at `base_url`."""
    async with httpx.AsyncClient() as http:
        return await make_tenant(http, prefix="obs", base_url=base_url)


def test_spans_reach_an_otlp_endpoint_with_their_parent_child_structure(observed: Observed) -> None:
    """Spans reach a real OTLP/HTTP endpoint, continuing the caller's trace, with SQL spans as children.

    The server span carries the configured service name and the caller's span as parent.
    """
    tenant = run_async(lambda: new_tenant(observed.server.base_url))
    headers = {"X-TOKEN": tenant.token, "traceparent": f"00-{TRACE_ID}-{CALLER_SPAN_ID}-01"}
    response = httpx.get(f"{observed.server.base_url}/items", headers=headers)
    assert response.status_code == 200
    assert response.headers["x-trace-id"] == TRACE_ID

    def server_span_and_children() -> tuple[Any, list[Any]] | None:
        spans = observed.receiver.spans_of(TRACE_ID)
        servers = [span for _, span in spans if span.name == "GET /items"]
        if not servers:
            return None
        children = [span for _, span in spans if span.parent_span_id == servers[0].span_id]
        return (servers[0], children) if len(children) >= 3 else None

    server_span, children = wait_for(server_span_and_children)
    assert server_span.parent_span_id.hex() == CALLER_SPAN_ID
    assert {service for service, _ in observed.receiver.spans_of(TRACE_ID)} == {"cobreja-under-test"}
    assert any("SET LOCAL search_path" in str(child.attributes) for child in children)


def access_lines(path: Path) -> list[dict[str, Any]]:
    """Every JSON access line in `path` (every line there must be JSON)."""
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [line for line in lines if line.get("kind") == "access"]


def test_every_access_line_is_json_with_the_ids_of_its_response(observed: Observed) -> None:
    """Stdout holds only JSON lines; each access line has every O3 field and its response's ids.

    The request id and trace id equal the response headers; a caller's sane X-Request-Id is kept.
    """
    tenant = run_async(lambda: new_tenant(observed.server.base_url))
    response = httpx.get(f"{observed.server.base_url}/items", headers={"X-TOKEN": tenant.token,
                                                                        "X-Request-Id": "caller-chosen-id.42"})
    assert response.headers["x-request-id"] == "caller-chosen-id.42"

    def my_line() -> dict[str, Any] | None:
        found = [line for line in access_lines(observed.stdout) if line["request_id"] == "caller-chosen-id.42"]
        return found[0] if found else None

    line = wait_for(my_line)
    assert set(line) >= ACCESS_FIELDS
    assert line["trace_id"] == response.headers["x-trace-id"]
    assert len(line["span_id"]) == 16
    expected = (tenant.slug, "GET", "/items", 200)
    assert (line["tenant"], line["method"], line["route"], line["status"]) == expected
    assert line["client"] == "127.0.0.1"
    assert line["duration_ms"] > 0


def test_a_malformed_request_id_is_replaced(observed: Observed) -> None:
    """An X-Request-Id with unsafe characters (or too long) is not echoed; a fresh one is generated."""
    response = httpx.get(f"{observed.server.base_url}/health", headers={"X-Request-Id": "bad id\twith spaces"})
    assert response.headers["x-request-id"] != "bad id\twith spaces"
    assert len(response.headers["x-request-id"]) == 32


def test_log_files_are_written_under_log_dir(observed: Observed) -> None:
    """LOG_DIR gets app.log (text only), structured.jsonl (JSON), errors.log and performance.log (slow requests).

    Access lines (JSON) go to structured.jsonl, not to the text file.
    """
    httpx.get(f"{observed.server.base_url}/health")
    names = {"app.log", "structured.jsonl", "errors.log", "performance.log"}
    wait_for(lambda: all((observed.log_dir / name).exists() for name in names))
    wait_for(lambda: access_lines(observed.log_dir / "performance.log"))
    assert access_lines(observed.log_dir / "structured.jsonl")
    text = (observed.log_dir / "app.log").read_text()
    assert text.strip(), "app.log holds the text lines"
    assert not [line for line in text.splitlines() if line.startswith("{")], "no JSON line in app.log"


def test_no_token_or_key_appears_in_any_log(observed: Observed) -> None:
    """No log output (stdout or any file under LOG_DIR) contains a token, the admin key or the monitoring password.

    Checked at DEBUG level after creating, using, rotating and misusing tokens, the admin key and the
    monitoring password (right and wrong, as basic auth).
    """
    base = observed.server.base_url
    tenant = run_async(lambda: new_tenant(base))
    secrets = [tenant.token, ADMIN_KEY, MONITORING_PASSWORD]
    httpx.get(f"{base}/monitoring/api/metrics", auth=("ops", MONITORING_PASSWORD))
    httpx.get(f"{base}/health/detailed", auth=("ops", MONITORING_PASSWORD + "x"))
    httpx.get(f"{base}/items", headers={"X-TOKEN": tenant.token})
    httpx.post(f"{base}/items", json={"title": tenant.token}, headers={"X-TOKEN": tenant.token})
    slug = tenant.slug
    rotated = httpx.post(f"{base}/admin/tenants/{slug}/rotate-token", headers={"X-ADMIN-KEY": ADMIN_KEY})
    secrets.append(rotated.json()["token"])
    httpx.get(f"{base}/items", headers={"X-TOKEN": tenant.token})  # now revoked: 401
    httpx.get(f"{base}/items/{tenant.token}", headers={"X-TOKEN": secrets[-1]})
    httpx.get(f"{base}/admin/tenants", headers={"X-ADMIN-KEY": ADMIN_KEY + "x"})
    wait_for(lambda: len(access_lines(observed.stdout)) > 0)
    time.sleep(0.5)  # let the last lines reach the files
    outputs = [observed.stdout, *observed.log_dir.iterdir()]
    for path in outputs:
        text = path.read_text(errors="replace")
        for secret in secrets:
            assert secret not in text, f"a secret leaked into {path.name}"
