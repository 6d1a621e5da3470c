"""Draining the token outbox stops at the first Redis failure (one timeout, not one per row)."""

from __future__ import annotations

from typing import Any, cast

from app.tenants.outbox import _write_until_failure
from app.tenants.token_store import TokenStore


class RecordingStore:
    """Accepts the first `accept` writes, refuses the rest, and counts attempts."""

    def __init__(self, accept: int) -> None:
        self.accept = accept
        self.attempts = 0

    async def write(self, token_hash: str, value: bytes) -> bool:
        """Count the attempt; succeed while under `accept`."""
        self.attempts += 1
        return self.attempts <= self.accept


ROWS: list[Any] = [{"token_hash": f"h{i}", "value": "revoked"} for i in range(50)]


async def test_a_failing_redis_costs_one_attempt() -> None:
    """With Redis refusing every write, 50 owed rows cost a single attempt and nothing is marked written."""
    store = RecordingStore(accept=0)
    assert await _write_until_failure(cast(TokenStore, store), ROWS) == []
    assert store.attempts == 1


async def test_rows_before_the_failure_count_as_written() -> None:
    """Rows written before Redis failed are kept as written, in order; the rest stay owed."""
    store = RecordingStore(accept=3)
    written = await _write_until_failure(cast(TokenStore, store), ROWS)
    assert [row["token_hash"] for row in written] == ["h0", "h1", "h2"]
    assert store.attempts == 4
