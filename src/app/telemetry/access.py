"""The access log: one JSON line per HTTP request, joinable to its trace."""

from __future__ import annotations

from loguru import logger

from app.telemetry.facts import FinishedRequest
from app.telemetry.logging import scrub

_ACCESS = logger.bind(kind="access")


class AccessLog:
    """Writes the access line; requests slower than `slow_request_ms` are marked `slow`."""

    def __init__(self, slow_request_ms: float) -> None:
        self.slow_request_ms = slow_request_ms

    def write(self, request: FinishedRequest) -> None:
        """Log the finished request with every field SPEC.md O3 names."""
        duration_ms = round(request.seconds * 1000, 2)
        path = scrub(request.path)  # a client may put anything in a path, even its token
        message = f"{request.method} {path} {request.status} {duration_ms}ms"
        # Fields given as keyword arguments land in the record's `extra` (loguru's `capture`), which
        # spares creating a bound logger per request; braces are doubled because loguru formats the
        # message with them.
        _ACCESS.info(
            message.replace("{", "{{").replace("}", "}}"),
            request_id=request.request_id,
            trace_id=request.trace_id,
            span_id=request.span_id,
            tenant=request.tenant,
            method=request.method,
            route=request.route,
            path=path,
            status=request.status,
            duration_ms=duration_ms,
            client=request.client,
            slow=duration_ms >= self.slow_request_ms,
        )
