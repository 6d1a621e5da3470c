"""Real `app run` processes (uvicorn) for the tests, and the environment they get."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.processes import clean_env, free_port, stop_process_group, wait_until_up
from tests.support.tenants import ADMIN_KEY, MONITORING_PASSWORD


@dataclass(frozen=True)
class LiveServer:
    """A real `app run` process serving on `base_url`, logging to `log_path`."""

    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    name: str = "app"

    def url(self, path: str) -> str:
        """The absolute URL of `path` on this process."""
        return self.base_url + path

    def log(self) -> str:
        """What the process printed so far."""
        return self.log_path.read_text(errors="replace")


def app_env(**variables: str) -> dict[str, str]:
    """The environment of an `app run` process: the tests' admin key, a pool of 1-4, quiet logs, `variables`.

    `variables` names the servers (DATABASE_URL, REDIS_URL: pass `**server_urls`) and any other setting.
    """
    defaults = {"ADMIN_API_KEY": ADMIN_KEY, "MONITORING_PASSWORD": MONITORING_PASSWORD, "DB_POOL_MIN_SIZE": "1",
                "DB_POOL_MAX_SIZE": "4", "LOG_LEVEL": "WARNING"}
    return clean_env(**{**defaults, **variables})


@contextmanager
def serving(env: dict[str, str], log_path: Path, *args: str, name: str = "app",
            stderr_path: Path | None = None) -> Iterator[LiveServer]:
    """`python -m app run [args]` on a free port with `env`, until it answers; its process group stopped on exit.

    Its stdout and stderr go to `log_path`, or stderr to `stderr_path` when given (to check stdout alone).
    It runs in a session of its own, so the stop (SIGTERM, then SIGKILL) reaches its workers too.
    """
    port = free_port()
    with log_path.open("wb") as log, (stderr_path or log_path).open("ab") as errors:
        process = subprocess.Popen(
            [sys.executable, "-m", "app", "run", "--host", "127.0.0.1", "--port", str(port), *args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT if stderr_path is None else errors,
            start_new_session=True,
        )
    server = LiveServer(f"http://127.0.0.1:{port}", process, log_path, name)
    try:
        try:
            wait_until_up(server.url("/health"), process)
        except (RuntimeError, TimeoutError) as exc:
            raise RuntimeError(f"{name} did not start: {exc}\n{server.log()}") from exc
        yield server
    finally:
        stop_process_group(process)
