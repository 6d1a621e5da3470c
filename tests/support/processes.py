"""Subprocesses of the tests: free ports, liveness, stopping, and running `python ...` to completion."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import psutil

OUR_VARIABLES = ("DATABASE_URL", "REDIS_URL", "ADMIN_API_KEY")
"""The variables that point a process at its servers and admin key (never inherited by accident)."""
RUN_TIMEOUT_SECONDS = 60.0


def clean_env(**variables: str) -> dict[str, str]:
    """The test process's environment without OUR_VARIABLES, plus `variables`.

    `ENV_FILE=` (empty) keeps a developer's `.env` out of every process a test starts; the tests of
    the env file itself drop it.
    """
    inherited = {name: value for name, value in os.environ.items() if name not in OUR_VARIABLES}
    return {**inherited, "ENV_FILE": "", **variables}


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def alive(pid: int) -> bool:
    """Whether `pid` is a live (not zombie) process."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_until_up(url: str, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """Poll `url` until it answers, failing early if `process` died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not come up within {timeout}s")


def stop_process(process: subprocess.Popen[bytes], grace_seconds: float = 15.0) -> None:
    """SIGTERM `process`, and SIGKILL it if it is still running after `grace_seconds`."""
    process.terminate()
    try:
        process.wait(timeout=grace_seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def stop_process_group(process: subprocess.Popen[bytes], grace_seconds: float = 15.0) -> None:
    """SIGTERM the process group (it was started in a session of its own), SIGKILL if it lingers."""
    if process.poll() is None:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=grace_seconds)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)  # anything the server left in its group


@dataclass(frozen=True)
class Completed:
    """What one finished subprocess produced, and how long it ran."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float = 0.0

    def json(self) -> Any:
        """Its stdout, decoded as one JSON document (a `--json` summary)."""
        return json.loads(self.stdout)


async def spawn_python(*argv: str, env: dict[str, str], cwd: Path | None = None) -> asyncio.subprocess.Process:
    """Start `python ARGV` in a session of its own, stdout and stderr piped, without waiting for it."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        *argv,
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )


async def finish(process: asyncio.subprocess.Process, time_limit: float = RUN_TIMEOUT_SECONDS) -> Completed:
    """Wait for `process` (killed if it outlives `time_limit` seconds) and collect its output."""
    started = time.monotonic()
    try:
        out, err = await asyncio.wait_for(process.communicate(), time_limit)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return Completed(process.returncode, out.decode(errors="replace"), err.decode(errors="replace"),
                     time.monotonic() - started)


async def run_python(
    *argv: str, env: dict[str, str], cwd: Path | None = None, time_limit: float = RUN_TIMEOUT_SECONDS
) -> Completed:
    """`python ARGV` to completion (killed after `time_limit` seconds); `seconds` counts from the start."""
    started = time.monotonic()
    completed = await finish(await spawn_python(*argv, env=env, cwd=cwd), time_limit)
    return replace(completed, seconds=time.monotonic() - started)


async def run_cli(
    *args: str, env: dict[str, str], cwd: Path | None = None, time_limit: float = RUN_TIMEOUT_SECONDS
) -> Completed:
    """`python -m app ARGS` (the `app` command) to completion."""
    return await run_python("-m", "app", *args, env=env, cwd=cwd, time_limit=time_limit)
