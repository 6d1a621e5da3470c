"""A legitimate tenant's throughput alone and under a flood of random well-formed tokens (T1: a flood costs ~nothing).

    uv run python bench/flood.py                      # 10 s per phase, 8 legitimate + 8 flood connections
    uv run python bench/flood.py --seconds 3 --flood-connections 16

Starts `app run --workers 1` on embedded PostgreSQL and Valkey (or `DATABASE_URL` / `REDIS_URL`),
ensures tenant `bench` with its items, waits until Redis is marked complete, then measures
`GET /items?limit=20` as that tenant with httpx: first alone, then while other connections send
random 43-character tokens as fast as they are answered (each must get 401). Prints both
throughputs, the flood's rate and the ratio (under flood / alone). A benchmark, not a test: run it
on a quiet machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import socket
import sys
import tempfile
import time
from pathlib import Path

import httpx

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent))

from bench.fixtures import database_urls, ensure_items, tenant_token  # noqa: E402
from bench.processes import BenchError, Server, spawn, stop, wait_ready  # noqa: E402

RESULTS_DIR = BENCH_DIR / "results"
COMPLETE_KEY = "tenant:tokens:complete"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def drive(base_url: str, headers_of: object, connections: int, seconds: float, expect: int) -> int:
    """Requests answered `expect` within `seconds` on `connections` concurrent keep-alive connections."""
    done = 0
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=10.0) as http:

        async def one_connection() -> None:
            nonlocal done
            while time.monotonic() < deadline:
                response = await http.get("/items?limit=20", headers=headers_of())  # type: ignore[operator]
                if response.status_code != expect:
                    raise BenchError(f"expected {expect}, got {response.status_code}: {response.text[:200]}")
                done += 1

        await asyncio.gather(*(one_connection() for _ in range(connections)))
    return done


async def phases(base_url: str, token: str, args: argparse.Namespace) -> tuple[float, float, float]:
    """(legitimate req/s alone, legitimate req/s under flood, flood req/s)."""
    legit = {"X-TOKEN": token}

    def random_token() -> dict[str, str]:
        return {"X-TOKEN": secrets.token_urlsafe(32)}

    await drive(base_url, lambda: legit, args.connections, 1.0, 200)  # warm-up
    alone = await drive(base_url, lambda: legit, args.connections, args.seconds, 200) / args.seconds
    under, flood = await asyncio.gather(
        drive(base_url, lambda: legit, args.connections, args.seconds, 200),
        drive(base_url, random_token, args.flood_connections, args.seconds, 401),
    )
    return alone, under / args.seconds, flood / args.seconds


async def wait_complete(redis_url: str, within: float = 30.0) -> None:
    """Wait until the service marked Redis complete (its first full load of token records)."""
    from redis.asyncio import Redis

    client = Redis.from_url(redis_url)
    try:
        deadline = time.monotonic() + within
        while not await client.exists(COMPLETE_KEY):
            if time.monotonic() > deadline:
                raise BenchError("Redis was never marked complete; unknown tokens would reach the registry")
            await asyncio.sleep(0.1)
    finally:
        await client.aclose()


def main() -> int:
    """Start the service, run both phases, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each measured phase")
    parser.add_argument("--connections", type=int, default=8, help="connections of the legitimate tenant")
    parser.add_argument("--flood-connections", type=int, default=8, help="connections sending random tokens")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="cobreja-flood-"))
    database_url, redis_url, origin = database_urls(scratch)
    os.environ.setdefault("ADMIN_API_KEY", secrets.token_urlsafe(32))
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url, "LOG_LEVEL": "WARNING",
           "ACCESS_LOG": "false"}
    token = tenant_token(database_url, redis_url)
    port = free_port()
    server: Server = spawn("flood-service", ["-m", "app", "run", "--host", "127.0.0.1", "--port", str(port),
                                            "--workers", "1"], port, env, RESULTS_DIR / "flood-service.log")
    try:
        wait_ready(server, "/items", {"X-TOKEN": token})
        ensure_items(server.base_url, token)
        asyncio.run(wait_complete(redis_url))
        alone, under, flood = asyncio.run(phases(server.base_url, token, args))
    except BenchError as exc:
        print(f"error: {exc}\n{server.log_tail()}", file=sys.stderr)
        return 1
    finally:
        stop(server)
    print(f"{origin}; {args.connections} legitimate + {args.flood_connections} flood connections, "
          f"{args.seconds:g} s per phase")
    print(f"legitimate alone        {alone:8.0f} req/s")
    print(f"legitimate under flood  {under:8.0f} req/s   (flood answered 401: {flood:.0f} req/s)")
    print(f"ratio under flood/alone {under / alone:8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
