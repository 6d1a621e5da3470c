"""R3 / I4: the published OpenAPI document is fuzzed with schemathesis and nothing answers 5xx.

The `st` CLI (schemathesis v4) runs as a subprocess against the live `app run` server, reading
`/schema/openapi.json`, with a real tenant token and the admin key on every request, so it gets
past authentication into the handlers. Examples are bounded (and seeded) to keep the run short.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.servers import LiveServer
from tests.support.tenants import ADMIN_KEY, make_tenant

MAX_EXAMPLES = 60
SEED = 20261123
TIME_LIMIT_SECONDS = 120

pytestmark = pytest.mark.slow


def st_command() -> list[str]:
    """The schemathesis CLI of this environment (the `st` script next to the interpreter)."""
    script = Path(sys.executable).parent / "st"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "schemathesis.cli"]


async def test_openapi_fuzzing_finds_no_server_error(live_server: LiveServer, tmp_path: Path) -> None:
    """Every operation of the OpenAPI document, fed schemathesis' positive and negative data, answers < 500."""
    async with httpx.AsyncClient(base_url=live_server.base_url, timeout=30) as http:
        tenant = await make_tenant(http, prefix="fuzz")
        schema = await http.get("/schema/openapi.json")
        assert schema.status_code == 200, schema.text
        assert schema.json()["paths"], "the OpenAPI document lists no operations"

    command = [
        *st_command(),
        "run",
        f"{live_server.base_url}/schema/openapi.json",
        "--checks",
        "not_a_server_error",
        "--header",
        f"X-TOKEN: {tenant.token}",
        "--header",
        f"X-ADMIN-KEY: {ADMIN_KEY}",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--workers",
        "2",
        "--request-timeout",
        "20",
        "--generation-allow-x00",
        "true",
        "--generation-database",
        "none",
        "--suppress-health-check",
        "all",
        "--no-color",
        "--report",
        "junit",
        "--report-dir",
        str(tmp_path),
    ]
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        *command,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=tmp_path,
        env={**os.environ, "NO_COLOR": "1"},
    )
    try:
        raw, _ = await asyncio.wait_for(process.communicate(), TIME_LIMIT_SECONDS)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    elapsed = time.monotonic() - started
    output = raw.decode(errors="replace").replace(tenant.token, "<token>").replace(ADMIN_KEY, "<admin-key>")
    assert process.returncode == 0, f"schemathesis exited {process.returncode} after {elapsed:.0f}s:\n{output}"
    selected = re.search(r"Selected:\s*(\d+)/(\d+)", output)
    tested = re.search(r"Tested:\s*(\d+)", output)
    assert selected, output
    assert tested, output
    assert int(tested[1]) == int(selected[1]) == int(selected[2]) > 0, "some operations were not exercised"
