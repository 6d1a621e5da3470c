"""The default sampler's budget: at most N new traces a second, refilled over time, callers' decisions kept."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.sampling import Decision
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from app.telemetry import sampling
from app.telemetry.sampling import RateLimitedSampler, parent_based_rate_limited


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        """The time the test set."""
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """Time stands still unless the test advances it."""
    fake = FakeClock()
    monkeypatch.setattr(sampling.time, "monotonic", fake)
    return fake


def decisions(sampler: RateLimitedSampler, count: int) -> list[bool]:
    """Whether each of `count` new root spans would be recorded."""
    return [sampler.should_sample(None, trace_id, "GET").decision.is_sampled() for trace_id in range(1, count + 1)]


def test_a_burst_gets_the_budget_and_no_more(clock: FakeClock) -> None:
    """With 10 a second, a burst of 50 new traces at one instant records exactly 10."""
    assert decisions(RateLimitedSampler(10), 50).count(True) == 10


def test_the_budget_refills_with_time(clock: FakeClock) -> None:
    """After the bucket is empty, half a second later 5 more are recorded; it never holds more than a second's worth."""
    sampler = RateLimitedSampler(10)
    decisions(sampler, 50)
    clock.now += 0.5
    assert decisions(sampler, 50).count(True) == 5
    clock.now += 60
    assert decisions(sampler, 50).count(True) == 10


def test_a_budget_under_one_a_second_still_records_now_and_then(clock: FakeClock) -> None:
    """0.5 a second: one trace, then nothing for two seconds, then one more."""
    sampler = RateLimitedSampler(0.5)
    assert decisions(sampler, 5).count(True) == 1
    clock.now += 1.0
    assert decisions(sampler, 5).count(True) == 0
    clock.now += 1.0
    assert decisions(sampler, 5).count(True) == 1


def test_zero_records_nothing(clock: FakeClock) -> None:
    """A budget of 0 records no new trace, ever."""
    sampler = RateLimitedSampler(0)
    clock.now += 3600
    assert decisions(sampler, 20) == [False] * 20


def test_dropped_spans_carry_no_attributes(clock: FakeClock) -> None:
    """Like the SDK's samplers: attributes are kept only for a span that will be recorded."""
    sampler = RateLimitedSampler(1)
    first = sampler.should_sample(None, 1, "GET", attributes={"a": 1})
    second = sampler.should_sample(None, 2, "GET", attributes={"a": 1})
    assert (first.decision, dict(first.attributes)) == (Decision.RECORD_AND_SAMPLE, {"a": 1})
    assert (second.decision, dict(second.attributes)) == (Decision.DROP, {})


def test_a_sampled_caller_is_followed_even_over_budget(clock: FakeClock) -> None:
    """Parent-based: once the budget is spent, a request whose remote parent was sampled is still recorded."""
    sampler = parent_based_rate_limited(1)
    assert sampler.should_sample(None, 1, "GET").decision.is_sampled()
    assert not sampler.should_sample(None, 2, "GET").decision.is_sampled()
    for flags, recorded in ((TraceFlags.SAMPLED, True), (TraceFlags.DEFAULT, False)):
        parent = SpanContext(trace_id=3, span_id=4, is_remote=True, trace_flags=TraceFlags(flags))
        context = trace.set_span_in_context(NonRecordingSpan(parent))
        assert sampler.should_sample(context, 3, "GET").decision.is_sampled() is recorded
