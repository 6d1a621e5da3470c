"""Buffered metrics publish exactly what direct prometheus-client calls would have recorded."""

from __future__ import annotations

import random

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.utils import INF

from app.telemetry.buffered import BufferedCounter, BufferedHistogram, LiveCount

BOUNDS = (0.001, 0.01, 0.1, 1.0, INF)


def samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of `registry` (except creation timestamps), by name and labels."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in registry.collect() for s in family.samples if not s.name.endswith("_created")}


def test_a_buffered_histogram_publishes_what_observe_would() -> None:
    """Buckets, count and sum equal direct observes of the same values, values on the bounds included.

    This also pins the prometheus-client internals the publisher writes to (`_sum`, `_buckets`).
    """
    direct_registry, buffered_registry = CollectorRegistry(), CollectorRegistry()
    direct = Histogram("h_seconds", "h", ["op"], buckets=BOUNDS, registry=direct_registry)
    buffered = BufferedHistogram(Histogram("h_seconds", "h", ["op"], buckets=BOUNDS, registry=buffered_registry),
                                 BOUNDS)
    spread = random.Random(7)  # noqa: S311  (test data, not secrets)
    values = [0.0, 0.001, 0.0011, 0.01, 0.5, 1.0, 7.0, *(spread.uniform(0, 2) for _ in range(200))]
    for value in values:
        op = spread.choice(["SELECT", "BEGIN"])
        direct.labels(op).observe(value)
        buffered.observe((op,), value)
    assert samples(buffered_registry) == {}  # nothing reaches prometheus-client before a publish
    buffered.publish()
    assert samples(buffered_registry) == samples(direct_registry)
    buffered.publish()  # publishing again adds nothing
    assert samples(buffered_registry) == samples(direct_registry)


def test_a_buffered_counter_sums_per_label_values() -> None:
    """Increments are summed per label values (or without labels) and added on publish, once."""
    registry = CollectorRegistry()
    labelled = BufferedCounter(Counter("c", "c", ["reason"], registry=registry))
    plain = BufferedCounter(Counter("p", "p", registry=registry))
    for reason in ["missing", "unknown", "missing"]:
        labelled.inc(reason)
    plain.inc()
    labelled.publish()
    plain.publish()
    plain.publish()
    assert registry.get_sample_value("c_total", {"reason": "missing"}) == 2
    assert registry.get_sample_value("c_total", {"reason": "unknown"}) == 1
    assert registry.get_sample_value("p_total") == 1


def test_a_live_count_sets_its_gauge_when_published() -> None:
    """The gauge shows the in-flight count as of the last publish."""
    registry = CollectorRegistry()
    live = LiveCount(Gauge("g", "g", registry=registry))
    live.value += 3
    live.publish()
    live.value -= 1
    assert registry.get_sample_value("g") == 3
    live.publish()
    assert registry.get_sample_value("g") == 2
