"""The default trace sampler: parent-based, recording at most N new traces a second per process.

A recorded request costs CPU for its spans, their attributes and their OTLP encoding (bench/README.md
has the figures). A ratio sampler makes that cost grow with traffic: 10 % of a busy service's
requests can be hundreds of recorded traces a second. A budget in traces per second
bounds it whatever the traffic, while a quiet service (or `app dev`) still has every request
recorded. This is the rate-limiting sampler of Jaeger and the reservoir of AWS X-Ray; the
OpenTelemetry SDK ships only ratio samplers, hence this small one (a token bucket).

`ParentBased` keeps a caller's decision: a request whose `traceparent` says "sampled" is recorded
(a trace started upstream stays whole), one that says "not sampled" is not.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from opentelemetry.context import Context
from opentelemetry.sdk.trace.sampling import Decision, ParentBased, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind, TraceState, get_current_span
from opentelemetry.util.types import Attributes

DEFAULT_TRACES_PER_SECOND = 10.0


class RateLimitedSampler(Sampler):
    """Samples new traces while a token bucket of `per_second` tokens (refilled continuously) has one."""

    def __init__(self, per_second: float) -> None:
        self.per_second = max(per_second, 0.0)
        self.capacity = max(self.per_second, 1.0) if self.per_second > 0 else 0.0
        self.tokens = self.capacity
        self.refilled = time.monotonic()
        self._lock = threading.Lock()  # spans may start on any thread

    def _take(self) -> bool:
        with self._lock:
            now = time.monotonic()
            self.tokens = min(self.capacity, self.tokens + (now - self.refilled) * self.per_second)
            self.refilled = now
            if self.tokens >= 1.0:
                self.tokens -= 1.0
                return True
            return False

    def should_sample(  # noqa: PLR0917  (the Sampler interface)
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        """Record and sample while the budget lasts, else drop (attributes only with a sampled span)."""
        if self._take():
            return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes, _parent_trace_state(parent_context))
        return SamplingResult(Decision.DROP, None, _parent_trace_state(parent_context))

    def get_description(self) -> str:
        """As the SDK's samplers describe themselves."""
        return f"RateLimited{{{self.per_second}}}"


def _parent_trace_state(parent_context: Context | None) -> TraceState | None:
    span_context = get_current_span(parent_context).get_span_context()
    return span_context.trace_state if span_context.is_valid else None


def parent_based_rate_limited(per_second: float = DEFAULT_TRACES_PER_SECOND) -> ParentBased:
    """Callers' decisions kept; new traces recorded up to `per_second` a second."""
    return ParentBased(RateLimitedSampler(per_second))
