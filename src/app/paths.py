"""Only normalised paths reach the routes: `//admin/tenants` and `/admin//tenants` are 404s, not the admin API.

Litestar's router skips empty path segments, so a path with `//` would match the route of the
path without them. Proxies, caches and access rules in front of the service compare paths as
written; a request must not reach a route under a spelling they did not expect. Dot segments
(`/./`, `/../`) match no route already.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from litestar.exceptions import NotFoundException
from litestar.middleware import ASGIMiddleware

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Receive, Scope, Send


class NormalisedPathsOnly(ASGIMiddleware):
    """Answer 404 (problem+json, through the app's error mapper) for a path with an empty segment."""

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        """Pass the request on unless its path, as sent, holds `//` (Litestar has normalised `path` by now)."""
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        if b"//" in raw_path:
            raise NotFoundException("No such path: empty segments (`//`) are not allowed in paths.")
        await next_app(scope, receive, send)
