"""The HTTP/1.1 protocol the servers run: uvicorn's httptools protocol with header limits and problem+json refusals.

uvicorn's httptools protocol takes any number of headers of any size (a 1 MB header or 5,000 headers were
accepted), and answers a request it cannot parse (a bad request line, a bad method) with a `text/plain`
400. Both are decided before the application sees the request, so they are handled here: past
MAX_HEADERS headers or MAX_HEADER_BYTES of them the request is refused with 431, and every refusal of
the parser is a problem+json like the application's own.
"""

from __future__ import annotations

import json
from http import HTTPStatus

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

MAX_HEADERS = 100
"""Headers a request may carry (Apache's LimitRequestFields default)."""
MAX_HEADER_BYTES = 64 * 1024
"""Bytes all header names and values of a request may hold together."""
PROBLEM_TYPE_BASE = "https://cobreja.dev/problems/"  # as app.errors; this module imports nothing of the app


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, refusing oversized header sections (431) and answering problem+json."""

    def on_message_begin(self) -> None:
        """Start counting the headers of a new request."""
        super().on_message_begin()
        self.header_bytes = 0
        self.refusal: str | None = None

    def on_header(self, name: bytes, value: bytes) -> None:
        """Count the header; past the limits, stop parsing (the refusal is sent by `send_400_response`)."""
        self.header_bytes += len(name) + len(value)
        if len(self.headers) >= MAX_HEADERS or self.header_bytes > MAX_HEADER_BYTES:
            self.refusal = (f"The request's headers exceed the limit of {MAX_HEADERS} headers or "
                            f"{MAX_HEADER_BYTES} bytes.")
            raise httptools.HttpParserError(self.refusal)
        super().on_header(name, value)

    def send_400_response(self, msg: str) -> None:
        """Answer a request the parser refused: 431 for oversized headers, else 400, as problem+json."""
        refusal = getattr(self, "refusal", None)
        status = HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE if refusal else HTTPStatus.BAD_REQUEST
        detail = refusal or f"{msg} The request line or headers are not valid HTTP/1.1."
        slug = status.phrase.lower().replace(" ", "-")
        body = json.dumps({"type": PROBLEM_TYPE_BASE + slug, "title": status.phrase, "status": int(status),
                           "detail": detail}).encode()
        content = [STATUS_LINE[int(status)]]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend([b"content-type: application/problem+json\r\n",
                        b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
                        b"connection: close\r\n", b"\r\n", body])
        self.transport.write(b"".join(content))
        self.transport.close()
