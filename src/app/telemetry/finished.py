"""What the request layer knows about an answered request, handed to each signal."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(slots=True)
class FinishedRequest:
    """One answered HTTP request: ids, route template (None if no route matched), outcome, timing."""

    request_id: str
    trace_id: str | None
    span_id: str | None
    sampled: bool
    method: str
    path: str
    route: str | None
    status: int
    seconds: float
    tenant: str | None
    exception_type: str | None
    client: str | None


class RequestObserver(Protocol):
    """Told of each HTTP request as it starts and once it is answered (on the request path: keep it cheap)."""

    def started(self) -> None:
        """A request began."""

    def finished(self, request: FinishedRequest) -> None:
        """A request was answered (or failed)."""
