"""The request layer: one ASGI wrapper around the whole app that traces, counts and logs each request.

It wraps Litestar's ASGI handler from the outside, not as route middleware, because Litestar runs
middleware only for requests that matched a route: 404s, 405s and bad hosts would otherwise have
no span, no metric and no access line. Litestar's plugin API has no hook that wraps the whole
handler (its own OpenTelemetry plugin is special-cased by name in `Litestar._create_asgi_handler`),
so the telemetry plugin registers `RequestLayer.installer` as an `on_startup` hook: the app
exists by then, and no request has been served yet. Routing still happens inside, and
Litestar records the matched template in the scope, so by the time the response is sent the span
can be renamed and the metrics labelled by `path_template` — never by the raw path.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from litestar.enums import ScopeType
from opentelemetry.trace import Span

from app.telemetry.access import AccessLog
from app.telemetry.finished import FinishedRequest, RequestObserver
from app.telemetry.logging import REQUEST_ID
from app.telemetry.tracing import PROPAGATION_HEADERS, RequestTracer

if TYPE_CHECKING:
    from litestar import Litestar
    from litestar.types import ASGIApp, HTTPScope, Message, Receive, Scope, Send

EXCEPTION_TYPE = "cobreja.exception_type"
"""Key in the scope's state where `remember_exception` leaves the type of a raised exception."""
_REQUEST_ID_SHAPE = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_READ_HEADERS = frozenset(name.encode() for name in PROPAGATION_HEADERS | {"x-request-id", "user-agent"})


def request_id_from(given: str | None) -> str:
    """The caller's X-Request-Id when it is a sane one (≤128 safe characters), else a new one."""
    if given is not None and _REQUEST_ID_SHAPE.fullmatch(given):
        return given
    # An id, not a secret: the Mersenne Twister is enough, and it spares a getrandom() syscall per
    # request (bench/README.md has what that cost).
    return f"{random.getrandbits(128):032x}"


async def remember_exception(exception: Exception, scope: Scope) -> None:
    """Litestar `after_exception` hook: note the type of an exception raised while answering."""
    scope.setdefault("state", {})[EXCEPTION_TYPE] = type(exception).__name__


class RequestLayer:
    """ASGI wrapper; each signal is optional (None, or no observer, when switched off).

    `observers` are told of every request: the request metrics, and whatever else the app hands
    the telemetry plugin (the monitoring dashboard's recorder).
    """

    def __init__(self, app: ASGIApp, tracer: RequestTracer | None, observers: tuple[RequestObserver, ...],
                 access: AccessLog | None) -> None:
        self.app = app
        self.tracer = tracer
        self.observers = observers
        self.access = access

    @classmethod
    def installer(cls, tracer: RequestTracer | None, observers: tuple[RequestObserver, ...],
                  access: AccessLog | None) -> Callable[[Litestar], None]:
        """An `on_startup` hook that wraps the app's ASGI handler in the layer (once, however often it starts)."""

        def install(app: Litestar) -> None:
            if not isinstance(app.asgi_handler, cls):
                app.asgi_handler = cls(app.asgi_handler, tracer, observers, access)

        return install

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        """Answer the request through the app, with span, ids, metrics and access line around it.

        A plain function returning the awaitable, not a coroutine: one frame less in every
        request's await chain, which each suspension and resumption walks.
        """
        if scope["type"] != ScopeType.HTTP:
            return self.app(scope, receive, send)
        return self._answer(scope, receive, send)

    async def _answer(self, scope: HTTPScope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        # ASGI servers give header names in lower case: compare bytes, decode only what is read.
        carrier = {raw.decode(): value.decode("latin-1") for raw, value in scope["headers"] if raw in _READ_HEADERS}
        request_id = request_id_from(carrier.pop("x-request-id", None))
        request_id_token = REQUEST_ID.set(request_id)
        span, context_token, trace_id, span_id, sampled = self._start_span(scope, carrier)
        extra_headers = [(b"x-request-id", request_id.encode())]
        if trace_id is not None:
            extra_headers.append((b"x-trace-id", trace_id.encode()))
        outcome = {"status": 500}

        async def send_with_ids(message: Message) -> None:
            if message["type"] == "http.response.start":
                outcome["status"] = message["status"]
                message["headers"] = [*message.get("headers", ()), *extra_headers]
            await send(message)

        for observer in self.observers:
            observer.started()
        try:
            await self.app(scope, receive, send_with_ids)
        except Exception as exc:
            scope.setdefault("state", {})[EXCEPTION_TYPE] = type(exc).__name__
            raise
        finally:
            request = _finished(scope, request_id, (trace_id, span_id, sampled), outcome["status"],
                                time.perf_counter() - started)
            self._report(request, span, context_token)
            REQUEST_ID.reset(request_id_token)

    def _report(self, request: FinishedRequest, span: Span | None, context_token: object) -> None:
        """Hand the finished request to each signal that is on."""
        for observer in self.observers:
            observer.finished(request)
        if span is not None:
            RequestTracer.finish(span, context_token, request)
        if self.access is not None:
            self.access.write(request)

    def _start_span(self, scope: HTTPScope, carrier: dict[str, str]
                    ) -> tuple[Span | None, object, str | None, str | None, bool]:
        if self.tracer is None:
            return None, None, None, None, False
        span, token = self.tracer.start(scope, carrier)
        span_context = span.get_span_context()
        if not span_context.is_valid:
            return span, token, None, None, False
        return (span, token, format(span_context.trace_id, "032x"), format(span_context.span_id, "016x"),
                span_context.trace_flags.sampled)


def _finished(scope: HTTPScope, request_id: str, ids: tuple[str | None, str | None, bool], status: int,
              seconds: float) -> FinishedRequest:
    """What the request layer knows once the app has answered (routing and the guard fill the scope)."""
    state: dict[str, Any] = scope.get("state") or {}
    client = scope.get("client")
    route = scope.get("path_template") if "route_handler" in scope else None
    return FinishedRequest(request_id, *ids, scope["method"], scope["path"], route, status, seconds,
                           state.get("tenant"), state.get(EXCEPTION_TYPE), client[0] if client else None)
