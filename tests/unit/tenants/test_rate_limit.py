"""The per-tenant token bucket: bursts, refill, Retry-After, isolation between tenants."""

from __future__ import annotations

import time

import pytest

from app.tenants.rate_limit import TenantRateLimiter


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """A settable monotonic clock."""
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    return now


def test_a_burst_is_allowed_then_refused_with_retry_after(clock: list[float]) -> None:
    """`burst` requests pass at once; the next is refused with a whole number of seconds to wait."""
    limiter = TenantRateLimiter(rate=2, burst=3)
    assert [limiter.retry_after("a") for _ in range(3)] == [0, 0, 0]
    assert limiter.retry_after("a") == 1


def test_tokens_refill_at_the_rate(clock: list[float]) -> None:
    """After 1/rate seconds one more request passes."""
    limiter = TenantRateLimiter(rate=2, burst=1)
    assert limiter.retry_after("a") == 0
    assert limiter.retry_after("a") >= 1
    clock[0] += 0.5
    assert limiter.retry_after("a") == 0


def test_tenants_have_separate_buckets(clock: list[float]) -> None:
    """One tenant exhausting its bucket does not limit another."""
    limiter = TenantRateLimiter(rate=1, burst=1)
    assert limiter.retry_after("a") == 0
    assert limiter.retry_after("a") > 0
    assert limiter.retry_after("b") == 0


def test_a_rate_of_zero_disables_the_limit(clock: list[float]) -> None:
    """The default (0) never refuses."""
    limiter = TenantRateLimiter(rate=0, burst=1)
    assert all(limiter.retry_after("a") == 0 for _ in range(10_000))


def test_slow_rates_ask_for_longer_waits(clock: list[float]) -> None:
    """At 0.1 request/s an empty bucket asks for about 10 s."""
    limiter = TenantRateLimiter(rate=0.1, burst=1)
    limiter.retry_after("a")
    assert limiter.retry_after("a") == 10
