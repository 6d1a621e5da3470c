"""Counting on the request path in plain dicts, handed to prometheus-client in batches.

prometheus-client takes a lock (and, in multiprocess mode, writes a memory-mapped file) on every
`inc` and `observe`, and a request makes about fifteen of them (bench/README.md has what that
cost). Here the request path only adds to a dict; `publish_all` hands
the sums to prometheus-client's metrics, which stay the ones exposed (names, types, multiprocess
files). It runs every `PUBLISH_SECONDS` (the metrics plugin's lifespan), before every scrape this
process answers and when the app stops: a scrape is exact for the process answering it, and with
several workers another worker's counts can lag by up to `PUBLISH_SECONDS`.

Everything here runs on the event loop's thread (requests, the publisher, the scrape handler), so
no lock is needed.
"""

from __future__ import annotations

import asyncio
import contextlib
from bisect import bisect_left
from collections.abc import AsyncIterator
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from app.background import pause, running

PUBLISH_SECONDS = 1.0


class BufferedCounter:
    """A prometheus Counter whose increments are summed per label values until published."""

    def __init__(self, counter: Counter) -> None:
        self.counter = counter
        self.pending: dict[tuple[str, ...], float] = {}
        self.published = 0.0
        """Everything handed to the counter so far, all labels together (this process)."""
        _BUFFERS.append(self)

    def inc(self, *labels: str) -> None:
        """Count one, under these label values (none for a counter without labels)."""
        self.pending[labels] = self.pending.get(labels, 0.0) + 1.0

    def total(self) -> int:
        """Everything counted in this process since it started, all labels together."""
        return int(self.published + sum(self.pending.values()))

    def publish(self) -> None:
        """Add the pending counts to the counter."""
        pending, self.pending = self.pending, {}
        self.published += sum(pending.values())
        for labels, amount in pending.items():
            (self.counter.labels(*labels) if labels else self.counter).inc(amount)


class BufferedHistogram:
    """A prometheus Histogram whose observations are bucketed per label values until published.

    Publishing adds each bucket's count and the sum to the histogram's own values. There is no
    public API for "observe n values at once", so this reaches into the child's `_sum` and
    `_buckets` (prometheus-client's layout since 0.4; tests/unit/test_buffered.py checks it gives
    exactly what `observe` gives, so an upgrade that changes it fails there).
    """

    def __init__(self, histogram: Histogram, bounds: tuple[float, ...]) -> None:
        self.histogram = histogram
        self.bounds = bounds
        self.pending: dict[tuple[str, ...], list[float]] = {}
        _BUFFERS.append(self)

    def observe(self, labels: tuple[str, ...], value: float) -> None:
        """Record one observation under these label values."""
        slots = self.pending.get(labels)
        if slots is None:
            slots = self.pending[labels] = [0.0] * (len(self.bounds) + 1)
        slots[0] += value
        slots[1 + bisect_left(self.bounds, value)] += 1  # the first bucket whose bound is >= value

    def publish(self) -> None:
        """Add the pending bucket counts and sums to the histogram."""
        pending, self.pending = self.pending, {}
        for labels, slots in pending.items():
            child: Any = self.histogram.labels(*labels) if labels else self.histogram
            child._sum.inc(slots[0])  # private on purpose: see the class docstring
            for bucket, count in zip(child._buckets, slots[1:], strict=True):
                if count:
                    bucket.inc(count)


class LiveCount:
    """A number kept in a plain int (requests in flight), copied into a prometheus Gauge when published."""

    def __init__(self, gauge: Gauge) -> None:
        self.gauge = gauge
        self.value = 0
        _BUFFERS.append(self)

    def publish(self) -> None:
        """Set the gauge to the current value."""
        self.gauge.set(self.value)


_BUFFERS: list[BufferedCounter | BufferedHistogram | LiveCount] = []


def publish_all() -> None:
    """Hand every buffer's pending counts to prometheus-client."""
    for buffer in _BUFFERS:
        buffer.publish()


@contextlib.asynccontextmanager
async def publishing() -> AsyncIterator[None]:
    """Publish every PUBLISH_SECONDS while the block runs, and once more at its end."""
    try:
        async with running(_publish_until, "metrics publisher", grace_seconds=1.0):
            yield
    finally:
        publish_all()


async def _publish_until(stop: asyncio.Event) -> None:
    while not stop.is_set():
        await pause(stop, PUBLISH_SECONDS)
        publish_all()
