"""The access log: one JSON line per HTTP request, joinable to its trace.

The request path only queues the finished request; every `FLUSH_SECONDS`, every `FLUSH_LINES`
lines and when the app stops the queue becomes JSON lines, handed to loguru as one record.
loguru's per-record work (timestamp, caller frame, process and thread lookups, one write and
flush per sink) was a large share of a request's CPU (bench/README.md has the figures). The
price: a process killed outright (SIGKILL) loses at most the last `FLUSH_SECONDS` of access lines;
a normal stop flushes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import msgspec
from loguru import logger

from app.background import pause, running
from app.telemetry.finished import FinishedRequest
from app.telemetry.logging import ACCESS_BATCH, scrub

FLUSH_SECONDS = 0.1
FLUSH_LINES = 256
_encoder = msgspec.json.Encoder()
_batches = logger.bind(kind=ACCESS_BATCH, slow_only=False)
_slow_batches = logger.bind(kind=ACCESS_BATCH, slow_only=True)


class AccessLine(msgspec.Struct, kw_only=True):
    """One access line as written: every field SPEC.md O3 names, in this order."""

    time: str
    level: str = "INFO"
    message: str
    logger: str = __name__
    kind: str = "access"
    request_id: str
    trace_id: str | None
    span_id: str | None
    tenant: str | None
    method: str
    route: str | None
    path: str
    status: int
    duration_ms: float
    client: str | None
    slow: bool


class _Clock:
    """ISO-8601 UTC timestamps of epoch seconds, the date-and-time part formatted once per second."""

    def __init__(self) -> None:
        self.second = -1
        self.prefix = ""

    def iso(self, epoch: float) -> str:
        """`epoch` as `datetime.isoformat()` of a UTC datetime writes it (`...T04:57:58.886989+00:00`)."""
        second, micros = divmod(round(epoch * 1_000_000), 1_000_000)
        if second != self.second:
            self.second, self.prefix = second, datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        return f"{self.prefix}.{micros:06d}+00:00"


_clock = _Clock()


def access_line(finished_at: float, request: FinishedRequest, slow_request_ms: float) -> AccessLine:
    """The line of a request that finished at `finished_at` (epoch seconds)."""
    duration_ms = round(request.seconds * 1000, 2)
    path = scrub(request.path)  # a client may put anything in a path, even its token
    return AccessLine(
        time=_clock.iso(finished_at),
        message=f"{request.method} {path} {request.status} {duration_ms}ms",
        request_id=request.request_id, trace_id=request.trace_id, span_id=request.span_id,
        tenant=request.tenant, method=request.method, route=request.route, path=path,
        status=request.status, duration_ms=duration_ms, client=request.client,
        slow=duration_ms >= slow_request_ms,
    )


class AccessLog:
    """Queues finished requests; each flush turns them into JSON lines and hands them to loguru.

    The request path only appends (time, request): building and encoding the lines happens at the
    flush, all at once (msgspec's `encode_lines`), off the request path.
    """

    def __init__(self, slow_request_ms: float) -> None:
        self.slow_request_ms = slow_request_ms
        self.pending: list[tuple[float, FinishedRequest]] = []

    def write(self, request: FinishedRequest) -> None:
        """Queue the finished request's line."""
        self.pending.append((time.time(), request))
        if len(self.pending) >= FLUSH_LINES:
            self.flush()

    def flush(self) -> None:
        """Hand every queued line to loguru (one record for all, one more for the slow ones)."""
        if not self.pending:
            return
        queued, self.pending = self.pending, []
        lines = [access_line(finished_at, request, self.slow_request_ms) for finished_at, request in queued]
        _batches.info(_encoder.encode_lines(lines)[:-1].decode())
        if slow := [line for line in lines if line.slow]:
            _slow_batches.info(_encoder.encode_lines(slow)[:-1].decode())

    @contextlib.asynccontextmanager
    async def flushing(self) -> AsyncIterator[None]:
        """Flush every FLUSH_SECONDS while the block runs, and once more at its end."""
        try:
            async with running(self._flush_until, "access log flush", grace_seconds=1.0):
                yield
        finally:
            self.flush()

    async def _flush_until(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await pause(stop, FLUSH_SECONDS)
            self.flush()
