"""Raw HTTP/1.1 over a socket, for what an HTTP client library would never send (odd bytes, huge headers)."""

from __future__ import annotations

import asyncio

import httpx

from tests.support.problems import assert_problem
from tests.support.servers import LiveServer


async def raw_request(server: LiveServer, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send `request` bytes as-is to the live server; return (status, headers, body) of its answer."""
    host, port = server.base_url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(request)
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), timeout=10)
    finally:
        writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


def raw_get(path: bytes, *headers: tuple[bytes, bytes]) -> bytes:
    """An HTTP/1.1 GET with the given header lines, byte for byte, asking the server to close."""
    lines = [b"GET " + path + b" HTTP/1.1", b"Host: test"]
    lines += [name + b": " + value for name, value in headers]
    lines += [b"Connection: close", b"", b""]
    return b"\r\n".join(lines)


def raw_problem(status: int, headers: dict[str, str], body: bytes, *expected: int) -> None:
    """Raw-socket variant of assert_problem."""
    response = httpx.Response(status, headers=headers, content=body)
    assert_problem(response, *expected)
