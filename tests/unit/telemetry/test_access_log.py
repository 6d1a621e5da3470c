"""Access lines: queued on the request path, built and encoded at the flush, with every O3 field."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from app.telemetry import logging as telemetry_logging
from app.telemetry.access import FLUSH_LINES, AccessLog, _Clock
from app.telemetry.finished import FinishedRequest
from app.telemetry.logging import scrub

FIELDS = ["time", "level", "message", "logger", "kind", "request_id", "trace_id", "span_id", "tenant", "method",
          "route", "path", "status", "duration_ms", "client", "slow"]


def finished(seconds: float = 0.004, path: str = "/items/7", status: int = 200) -> FinishedRequest:
    """A request as the request layer hands it over."""
    return FinishedRequest("req-1", "ab" * 16, "cd" * 8, True, "GET", path, "/items/{item_id}", status, seconds,
                           "acme", None, "127.0.0.1")


def test_a_flush_writes_one_json_line_per_request_with_every_field(captured: list[str]) -> None:
    """Queued requests come out at the flush as one JSON object per line, fields in order, values right."""
    access = AccessLog(slow_request_ms=500)
    access.write(finished())
    access.write(finished(status=404))
    assert captured == []  # nothing is built or written on the request path
    access.flush()
    lines = [json.loads(line) for line in "".join(captured).splitlines()]
    assert [list(line) for line in lines] == [FIELDS, FIELDS]
    first = lines[0]
    assert (first["message"], first["route"], first["path"], first["status"], first["duration_ms"]) == (
        "GET /items/7 200 4.0ms", "/items/{item_id}", "/items/7", 200, 4.0)
    assert (first["trace_id"], first["span_id"], first["tenant"], first["slow"]) == ("ab" * 16, "cd" * 8, "acme", False)
    assert lines[1]["status"] == 404
    assert access.pending == []


def test_slow_requests_are_flagged_and_batched_for_performance_log(captured: list[str]) -> None:
    """A request at or over SLOW_REQUEST_MS is `slow`, and goes out once more in the slow-only batch."""
    access = AccessLog(slow_request_ms=100)
    access.write(finished(seconds=0.25))
    access.write(finished(seconds=0.01))
    access.flush()
    assert len(captured) == 2  # every line, then the slow ones
    assert [json.loads(line)["slow"] for line in captured[0].splitlines()] == [True, False]
    assert [json.loads(line)["duration_ms"] for line in captured[1].splitlines()] == [250.0]


def test_the_queue_flushes_itself_when_full(captured: list[str]) -> None:
    """FLUSH_LINES queued requests are written without waiting for the timer."""
    access = AccessLog(slow_request_ms=500)
    for _ in range(FLUSH_LINES):
        access.write(finished())
    assert len("".join(captured).splitlines()) == FLUSH_LINES
    assert access.pending == []


def test_a_token_in_the_path_is_redacted_in_the_line(captured: list[str]) -> None:
    """A client that puts a token in the URL does not get it into the access log."""
    token = "Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5"[:43]
    access = AccessLog(slow_request_ms=500)
    access.write(finished(path=f"/items/{token}"))
    access.flush()
    assert token not in captured[0]
    assert json.loads(captured[0])["path"] == "/items/[redacted]"


@pytest.mark.parametrize("epoch", [1_795_000_000.0, 1_795_000_000.5, 1_795_000_001.000001, 1_795_000_001.9999996])
def test_timestamps_match_datetime_isoformat(epoch: float) -> None:
    """The cached-prefix clock writes what `datetime.isoformat` would, microseconds always shown."""
    expected = datetime.fromtimestamp(epoch, UTC).isoformat(timespec="microseconds")
    clock = _Clock()
    assert clock.iso(epoch - 1) != expected
    assert clock.iso(epoch) == expected


def test_a_short_configured_key_is_still_scrubbed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The length shortcut of `scrub` never skips a configured secret shorter than a token."""
    monkeypatch.setattr(telemetry_logging, "_secrets", ["short-key-1"])
    monkeypatch.setattr(telemetry_logging, "_shortest_secret", [len("short-key-1")])
    assert scrub("/k/short-key-1") == "/k/[redacted]"
    assert scrub("/items") == "/items"
