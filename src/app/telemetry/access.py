"""The access log: one JSON line per HTTP request, joinable to its trace."""

from __future__ import annotations

from typing import TYPE_CHECKING

from loguru import logger

if TYPE_CHECKING:
    from litestar.types import Scope


class AccessLog:
    """Writes the access line; requests slower than `slow_request_ms` are marked `slow`."""

    def __init__(self, slow_request_ms: float) -> None:
        self.slow_request_ms = slow_request_ms

    def write(self, request_id: str, trace_id: str | None, span_id: str | None, tenant: str | None,
              method: str, route: str | None, scope: Scope, status: int, seconds: float) -> None:
        """Log the finished request with every field SPEC.md O3 names."""
        duration_ms = round(seconds * 1000, 2)
        client = scope.get("client")
        path = scope["path"]
        logger.bind(
            kind="access",
            request_id=request_id,
            trace_id=trace_id,
            span_id=span_id,
            tenant=tenant,
            method=method,
            route=route,
            path=path,
            status=status,
            duration_ms=duration_ms,
            client=client[0] if client else None,
            slow=duration_ms >= self.slow_request_ms,
        ).info(f"{method} {path} {status} {duration_ms}ms")
