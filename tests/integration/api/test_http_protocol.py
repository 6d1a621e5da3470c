"""What the HTTP parser refuses before the app sees it: oversized header sections (431), unparsable requests (400).

Both answers are problem+json like the app's own (uvicorn's were text/plain, and it accepted any headers).
"""

from __future__ import annotations

import pytest

from app.http_protocol import MAX_HEADER_BYTES, MAX_HEADERS
from tests.support.raw_http import raw_get, raw_problem, raw_request
from tests.support.servers import LiveServer


@pytest.mark.parametrize("headers", [
    pytest.param([(b"X-Big", b"a" * (1024 * 1024))], id="one-1MB-header"),
    pytest.param([(f"X-H{i}".encode(), b"v") for i in range(5000)], id="5000-headers"),
    pytest.param([(b"X-Big", b"a" * (MAX_HEADER_BYTES + 1))], id="just-over-the-bytes"),
    pytest.param([(f"X-H{i}".encode(), b"v") for i in range(MAX_HEADERS)], id="just-over-the-count"),
])
async def test_oversized_header_sections_are_431(live_server: LiveServer, headers: list[tuple[bytes, bytes]]) -> None:
    """Past 100 headers or 64 KiB of them (the Host header counts) → 431 problem+json naming the limits."""
    status, response_headers, body = await raw_request(live_server, raw_get(b"/health", *headers))
    raw_problem(status, response_headers, body, 431)
    assert b"exceed the limit" in body


async def test_a_request_within_the_limits_is_served(live_server: LiveServer) -> None:
    """90 small headers and a 16 KiB one are within the limits: GET /health answers 200."""
    headers = [(f"X-H{i}".encode(), b"v") for i in range(90)] + [(b"X-Big", b"a" * 16_384)]
    status, _, _ = await raw_request(live_server, raw_get(b"/health", *headers))
    assert status == 200


@pytest.mark.parametrize("request_bytes", [
    pytest.param(b"GARBAGE\r\n\r\n", id="no-request-line"),
    pytest.param(b"G\x00T / HTTP/1.1\r\nHost: t\r\n\r\n", id="bad-method"),
    pytest.param(b"GET / HTTP/9.9\r\nHost: t\r\n\r\n", id="bad-version"),
])
async def test_unparsable_requests_are_400_problems(live_server: LiveServer, request_bytes: bytes) -> None:
    """A request the parser cannot read → 400 application/problem+json (uvicorn's own was text/plain)."""
    status, headers, body = await raw_request(live_server, request_bytes)
    raw_problem(status, headers, body, 400)
