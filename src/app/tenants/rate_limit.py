"""Per-tenant rate limit (R4): a token bucket per tenant, in process, O(1) per request.

Deliberately not Litestar's RateLimitMiddleware: it runs before the tenant is known, keeps each
client's history as a JSON list re-encoded on every request (O(limit) work per request) behind
one global lock, and answers without `Retry-After`. The limit applies per worker process.
"""

from __future__ import annotations

import math
import time


class TenantRateLimiter:
    """`rate` requests per second per tenant with bursts up to `burst`; a rate of 0 disables it."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = max(burst, 1.0)
        self._buckets: dict[str, tuple[float, float]] = {}

    def retry_after(self, tenant: str) -> int:
        """Take one token for `tenant`: 0 if allowed, else the whole seconds to wait."""
        if self.rate <= 0:
            return 0
        now = time.monotonic()
        tokens, last = self._buckets.get(tenant, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens >= 1.0:
            self._buckets[tenant] = (tokens - 1.0, now)
            return 0
        self._buckets[tenant] = (tokens, now)
        return max(1, math.ceil((1.0 - tokens) / self.rate))
