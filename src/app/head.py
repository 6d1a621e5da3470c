"""HEAD is answered on every GET route, with the GET's status and headers and no body (RFC 9110 §9.3.2).

Uptime checkers and caches probe with HEAD. Litestar routes HEAD only to handlers declared for it
(and refuses a handler declared for both GET and HEAD, since a GET returns a body), so the
application itself turns a HEAD into a GET and drops the body on the way out. The copy of the scope
matters: the server (uvicorn) reads the original scope's method to know the body must be empty.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from litestar import Litestar

if TYPE_CHECKING:
    from litestar.types import LifeSpanReceive, LifeSpanScope, LifeSpanSend, Message, Receive, Scope, Send


class HeadAnsweredAsGet(Litestar):
    """The Litestar application, answering HEAD on every route that answers GET."""

    async def __call__(
        self, scope: Scope | LifeSpanScope, receive: Receive | LifeSpanReceive, send: Send | LifeSpanSend
    ) -> None:
        """Serve a HEAD request as a GET whose body is not sent; everything else as usual."""
        if scope.get("method") == "HEAD":  # only HTTP scopes have a method
            as_get = cast("Scope", {**scope, "method": "GET"})
            await super().__call__(as_get, receive, _without_body(cast("Send", send)))
            return
        await super().__call__(scope, receive, send)


def _without_body(send: Send) -> Send:
    """`send`, with every body chunk emptied (the headers, Content-Length included, go out as they are)."""

    async def send_headers_only(message: Message) -> None:
        if message["type"] == "http.response.body":
            emptied: dict[str, Any] = {**message, "body": b""}
            message = cast("Message", emptied)
        await send(message)

    return send_headers_only
