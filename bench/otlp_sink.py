"""A tiny OTLP/HTTP trace sink for the benchmark: accepts exports, counts them, answers 200 at once.

    python bench/otlp_sink.py --port 8704 --stats bench/results/otlp-sink.json

`POST /v1/traces` reads the body, counts one export and its bytes (and, unless `--no-span-count`,
its spans, decoded with opentelemetry-proto when that is importable) and answers 200 with an empty
body (an empty ExportTraceServiceResponse). `GET /stats` answers the counts so far as JSON. On
SIGTERM or SIGINT the sink writes the counts to `--stats` (JSON) and prints them, then exits 0.

Standard library only (plus the optional protobuf decoding), one thread per connection.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import json
import signal
import sys
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

TRACES_PATH = "/v1/traces"


class Counts:
    """Export requests, bytes and spans received so far (thread-safe)."""

    def __init__(self, count_spans: bool) -> None:
        self.lock = threading.Lock()
        self.exports = 0
        self.bytes = 0
        self.spans: int | None = 0 if count_spans and _decoder() is not None else None
        self.undecodable = 0
        self.first_at: float | None = None
        self.last_at: float | None = None

    def add(self, body: bytes, encoding: str) -> None:
        """Count one export whose (possibly compressed) body is `body`."""
        spans = _span_count(body, encoding) if self.spans is not None else None
        now = time.time()
        with self.lock:
            self.exports += 1
            self.bytes += len(body)
            if self.spans is not None:
                if spans is None:
                    self.undecodable += 1
                else:
                    self.spans += spans
            self.first_at = self.first_at or now
            self.last_at = now

    def as_dict(self) -> dict[str, Any]:
        """The counts as plain data."""
        with self.lock:
            return {
                "export_requests": self.exports,
                "bytes": self.bytes,
                "spans": self.spans,
                "undecodable_exports": self.undecodable,
                "first_export_at": self.first_at,
                "last_export_at": self.last_at,
            }


@functools.cache
def _decoder() -> Any:
    """ExportTraceServiceRequest from opentelemetry-proto, or None when it is not installed."""
    try:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
        )
    except ImportError:
        return None
    return ExportTraceServiceRequest


def _span_count(body: bytes, encoding: str) -> int | None:
    """How many spans the export holds; None if it cannot be decoded."""
    decoder = _decoder()
    try:
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        message = decoder.FromString(body)
    except Exception:
        return None
    return sum(len(scope.spans) for resource in message.resource_spans for scope in resource.scope_spans)


class SinkHandler(BaseHTTPRequestHandler):
    """POST /v1/traces → 200 empty; GET /stats → the counts; anything else → 404."""

    protocol_version = "HTTP/1.1"  # keep-alive: the exporter's requests.Session reuses its connection
    counts: Counts

    def do_POST(self) -> None:
        """Read and count one export."""
        body = self._read_body()
        if self.path.split("?", 1)[0] != TRACES_PATH:
            self._answer(404, b"", "text/plain")
            return
        self.counts.add(body, self.headers.get("Content-Encoding", "").strip().lower())
        self._answer(200, b"", "application/x-protobuf")

    def do_GET(self) -> None:
        """The counts so far, as JSON."""
        if self.path != "/stats":
            self._answer(404, b"", "text/plain")
            return
        self._answer(200, json.dumps(self.counts.as_dict()).encode(), "application/json")

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()  # the blank line after the last chunk (no trailers expected)
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _answer(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """No line per request: the sink must stay cheap."""


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGTERM/SIGINT, then write and print the counts."""
    parser = argparse.ArgumentParser(description="Count OTLP/HTTP trace exports; answer 200 at once.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4318)
    parser.add_argument("--stats", type=Path, default=None, help="JSON file the counts are written to at exit")
    parser.add_argument("--no-span-count", action="store_true", help="count exports and bytes only (no decoding)")
    args = parser.parse_args(argv)
    counts = Counts(count_spans=not args.no_span_count)
    handler = type("Handler", (SinkHandler,), {"counts": counts})
    server = ThreadingHTTPServer((args.host, args.port), handler)
    server.daemon_threads = True

    def finish(signum: int, _frame: object) -> None:
        # shutdown() waits for serve_forever() to return, which runs in this (the main) thread: do it elsewhere.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, finish)
    signal.signal(signal.SIGINT, finish)
    print(f"otlp-sink: listening on http://{args.host}:{args.port}{TRACES_PATH}", flush=True)
    server.serve_forever(poll_interval=0.2)
    server.server_close()
    result = counts.as_dict()
    if args.stats is not None:
        args.stats.parent.mkdir(parents=True, exist_ok=True)
        args.stats.write_text(json.dumps(result, indent=2) + "\n")
    print(f"otlp-sink: {json.dumps(result)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
