"""Recording for the dashboard (O6), in process: each finished request adds to plain dicts, nothing else.

The request layer tells the `Recorder` of every request (it is one of the telemetry plugin's
observers). The recorder adds to the current `Window` — a few dict updates, no I/O, no lock (all
on the event loop's thread) — and the flusher (`monitoring/flush.py`) swaps the window for an
empty one about every second and writes it to Redis. Only bounded things are kept: route
templates (never raw paths), normalised methods, status codes, exception type names, tenant slugs
(capped in Redis), and at most `SLOW_KEPT` slow requests per window.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from app.monitoring.document import SlowRequest
from app.telemetry import UNMATCHED, FinishedRequest, normalized_method

Clock = Callable[[], float]
"""Wall-clock Unix seconds (time.time); tests hand in their own to cross hours and days."""

LATENCY_BASE_MS = 0.1
LATENCY_RATIO = 1.1
"""Latency buckets are log-spaced by this ratio from LATENCY_BASE_MS: a percentile is within 5 %."""
SLOW_KEPT = 10
OWN_PATHS = "/monitoring"
"""The dashboard's own page, assets and API are not recorded: its polling would crowd what it shows."""


def latency_bucket(ms: float) -> int:
    """The index of the log-spaced bucket `ms` falls in (0 for anything under LATENCY_BASE_MS)."""
    if ms <= LATENCY_BASE_MS:
        return 0
    return 1 + int(math.log(ms / LATENCY_BASE_MS, LATENCY_RATIO))


def bucket_middle_ms(index: int) -> float:
    """A representative value of bucket `index` (the geometric middle of its bounds)."""
    if index <= 0:
        return LATENCY_BASE_MS
    return float(LATENCY_BASE_MS * LATENCY_RATIO ** (index - 0.5))


@dataclass(slots=True)
class Window:
    """What was recorded since the last flush."""

    opened: float
    """Wall-clock time of the first request in it: the hour and day its counts belong to."""
    seconds: dict[int, list[float]] = field(default_factory=dict)
    """Unix second → [count, sum ms, min ms, max ms]."""
    latency: dict[int, int] = field(default_factory=dict)
    statuses: dict[int, int] = field(default_factory=dict)
    methods: dict[str, int] = field(default_factory=dict)
    endpoints: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    """(method, route template) → [count, sum ms]."""
    exceptions: dict[str, int] = field(default_factory=dict)
    """"<status class> <exception type>" (e.g. "5xx KeyError") → count."""
    tenants: dict[str, int] = field(default_factory=dict)
    slow: list[SlowRequest] = field(default_factory=list)
    slow_count: int = 0

    @property
    def requests(self) -> int:
        """Requests recorded in the window."""
        return sum(self.statuses.values())

    def count_statuses(self, low: int, high: int) -> int:
        """Requests answered with a status in [low, high)."""
        return sum(n for status, n in self.statuses.items() if low <= status < high)

    @property
    def duration_ms(self) -> float:
        """Total response time of the window's requests."""
        return sum(entry[1] for entry in self.seconds.values())


class Recorder:
    """The request layer's dashboard observer: aggregates into a `Window` until the flusher takes it."""

    def __init__(self, slow_request_ms: float, clock: Clock = time.time) -> None:
        self.slow_request_ms = slow_request_ms
        self.clock = clock
        self.in_flight = 0
        self.recorded = 0
        """Requests handed to the flusher since the recorder started (this worker's share of the totals)."""
        self.window: Window | None = None

    def started(self) -> None:
        """A request began."""
        self.in_flight += 1

    def finished(self, request: FinishedRequest) -> None:
        """Add one answered request to the window (skipping the dashboard's own requests)."""
        self.in_flight -= 1
        route = request.route or UNMATCHED
        if route.startswith(OWN_PATHS):
            return
        now = self.clock()
        window = self.window
        if window is None:
            window = self.window = Window(now)
        ms = request.seconds * 1000
        _add_to_second(window.seconds, int(now), ms)
        bucket = latency_bucket(ms)
        window.latency[bucket] = window.latency.get(bucket, 0) + 1
        window.statuses[request.status] = window.statuses.get(request.status, 0) + 1
        method = normalized_method(request.method)
        window.methods[method] = window.methods.get(method, 0) + 1
        _add_to_endpoint(window.endpoints, (method, route), ms)
        if request.exception_type is not None:
            raised = f"{_status_class(request.status)} {request.exception_type}"
            window.exceptions[raised] = window.exceptions.get(raised, 0) + 1
        if request.tenant is not None:
            window.tenants[request.tenant] = window.tenants.get(request.tenant, 0) + 1
        if ms >= self.slow_request_ms:
            self._note_slow(window, SlowRequest(time=round(now, 3), method=method, path=route, tenant=request.tenant,
                                                status=request.status, duration_ms=round(ms, 3),
                                                request_id=request.request_id))

    @staticmethod
    def _note_slow(window: Window, slow: SlowRequest) -> None:
        """Keep the window's SLOW_KEPT slowest (sorting only when the list doubles: amortised)."""
        window.slow_count += 1
        window.slow.append(slow)
        if len(window.slow) >= 2 * SLOW_KEPT:
            window.slow.sort(key=lambda kept: kept.duration_ms, reverse=True)
            del window.slow[SLOW_KEPT:]

    def take(self) -> Window | None:
        """The window recorded so far (None if no request came), replaced by a new empty one."""
        window, self.window = self.window, None
        if window is not None:
            self.recorded += window.requests
            window.slow.sort(key=lambda kept: kept.duration_ms, reverse=True)
            del window.slow[SLOW_KEPT:]
        return window


def _status_class(status: int) -> str:
    """`4xx` (the client's error, handled), `5xx` (a failure) or `other` (an exception under a 1xx-3xx answer)."""
    return {4: "4xx", 5: "5xx"}.get(status // 100, "other")


def _add_to_second(seconds: dict[int, list[float]], second: int, ms: float) -> None:
    entry = seconds.get(second)
    if entry is None:
        seconds[second] = [1, ms, ms, ms]
        return
    entry[0] += 1
    entry[1] += ms
    if ms < entry[2]:
        entry[2] = ms
    elif ms > entry[3]:
        entry[3] = ms


def _add_to_endpoint(endpoints: dict[tuple[str, str], list[float]], key: tuple[str, str], ms: float) -> None:
    entry = endpoints.get(key)
    if entry is None:
        endpoints[key] = [1, ms]
    else:
        entry[0] += 1
        entry[1] += ms
