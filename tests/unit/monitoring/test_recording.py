"""The dashboard's in-process recorder: what one window holds after known requests, and what it never keeps."""

from __future__ import annotations

import pytest

from app.monitoring.recording import SLOW_KEPT, Recorder, bucket_middle_ms, latency_bucket
from tests.support.dashboard import ManualClock, finished


def recorder(slow_ms: float = 100.0) -> Recorder:
    """A recorder on a clock at a fixed second."""
    return Recorder(slow_ms, ManualClock(1_800_000_000.0))


def test_a_window_counts_statuses_methods_endpoints_tenants_and_exceptions() -> None:
    """Known requests give known counts, by status, method, (method, template), tenant and exception type."""
    rec = recorder()
    for request in (finished(), finished(ms=5), finished(status=404, route="/items/{item_id:int}", path="/items/7",
                                                         exception_type="ItemNotFound"),
                    finished(method="POST", status=201), finished(status=500, tenant=None, exception_type="KeyError"),
                    finished(method="BREW", route=None, path="/coffee", status=404, tenant=None)):
        rec.started()
        rec.finished(request)
    window = rec.take()
    assert window is not None
    assert window.requests == 6
    assert window.statuses == {200: 2, 404: 2, 201: 1, 500: 1}
    assert window.methods == {"GET": 4, "POST": 1, "OTHER": 1}
    assert window.endpoints[("GET", "/items")] == [3, 3 + 5 + 3]
    assert window.endpoints[("OTHER", "<unmatched>")][0] == 1
    assert window.exceptions == {"4xx ItemNotFound": 1, "5xx KeyError": 1}
    assert window.tenants == {"acme": 4}
    assert window.count_statuses(400, 500) == 2
    assert window.count_statuses(500, 600) == 1
    assert rec.in_flight == 0
    assert rec.take() is None  # the next window is empty until a request comes


def test_a_second_keeps_count_sum_min_and_max() -> None:
    """Requests within one second merge into one [count, sum, min, max] entry; the next second gets its own."""
    clock = ManualClock(1_800_000_000.2)
    rec = Recorder(100.0, clock)
    for ms in (4.0, 1.0, 9.0):
        rec.finished(finished(ms=ms))
    clock.advance(1.0)
    rec.finished(finished(ms=2.0))
    window = rec.take()
    assert window is not None
    assert window.seconds == {1_800_000_000: [3, 14.0, 1.0, 9.0], 1_800_000_001: [1, 2.0, 2.0, 2.0]}
    assert window.duration_ms == pytest.approx(16.0)


def test_only_the_slowest_requests_are_kept_with_their_template() -> None:
    """Above the threshold each request is counted, but a window keeps only the SLOW_KEPT slowest, by template."""
    rec = recorder(slow_ms=10.0)
    for ms in range(1, 101):
        rec.finished(finished(ms=float(ms), route="/items/{item_id:int}", path=f"/items/{ms}"))
    window = rec.take()
    assert window is not None
    assert window.slow_count == 91
    assert [slow.duration_ms for slow in window.slow] == [float(ms) for ms in range(100, 100 - SLOW_KEPT, -1)]
    assert {slow.path for slow in window.slow} == {"/items/{item_id:int}"}


def test_the_dashboards_own_requests_are_not_recorded() -> None:
    """Requests to /monitoring/... (the page polling its data) are left out, but still leave the in-flight count."""
    rec = recorder()
    rec.started()
    rec.finished(finished(route="/monitoring/api/metrics", path="/monitoring/api/metrics"))
    assert rec.take() is None
    assert rec.in_flight == 0


@pytest.mark.parametrize("ms", [0.05, 0.1, 0.5, 3.0, 42.0, 999.0, 12_345.0])
def test_latency_buckets_are_within_5_percent(ms: float) -> None:
    """A bucket's representative value is within 5 % of any value in it (so p95 is too)."""
    middle = bucket_middle_ms(latency_bucket(ms))
    assert middle == pytest.approx(ms, rel=0.05) or ms <= 0.1
