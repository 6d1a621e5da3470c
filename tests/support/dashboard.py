"""Requests as the request layer reports them, and a clock tests move by hand, for the dashboard's recorder."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from app.telemetry import FinishedRequest

_ids = itertools.count()


@dataclass
class ManualClock:
    """A wall clock that only moves when told (Unix seconds)."""

    now: float

    def __call__(self) -> float:
        """The current time."""
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward."""
        self.now += seconds


def finished(route: str | None = "/items", *, ms: float = 3.0, status: int = 200, method: str = "GET",
             tenant: str | None = "acme", exception_type: str | None = None, path: str = "/items") -> FinishedRequest:
    """A finished request as the request layer hands it to its observers."""
    return FinishedRequest(f"r{next(_ids)}", None, None, False, method, path, route, status, ms / 1000, tenant,
                           exception_type, "127.0.0.1")


def redis_db(url: str, index: int) -> str:
    """`url` pointing at database `index` of the same Redis server (so a test has aggregates of its own)."""
    return url.rsplit("/", 1)[0] + f"/{index}"
