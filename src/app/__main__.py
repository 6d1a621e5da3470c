"""`app`: the command line (dev, run, tenants). `python -m app` works too."""

from __future__ import annotations

import asyncio
import atexit
import os
import shutil
import signal
import socket
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

import click
import uvicorn
from uvicorn.supervisors import Multiprocess

from app.asgi import create_app
from app.console import DEV_SERVER, SERVER, fail, prepare
from app.dev import prepare_dev, print_banner
from app.http_protocol import LimitedHttpToolsProtocol
from app.preflight import preflight
from app.tenants import tenants_command


@click.group()
@click.version_option(version("cobreja"), "--version", "-V", prog_name="cobreja", message="%(prog)s %(version)s")
def main() -> None:
    """Cobreja: a multi-tenant REST API service."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=8000, show_default=True, help="TCP port to bind.")
def dev(host: str, port: int) -> None:
    """Zero-config development server: embedded PostgreSQL + Redis, a demo tenant, one worker."""
    if not port_is_free(host, port):
        fail(f"{host}:{port} is already in use (choose another with --port)")
    settings = prepare(DEV_SERVER)
    demo_token = asyncio.run(prepare_dev(settings))
    print_banner(settings, demo_token, host, port)
    # uvicorn re-raises SIGTERM after its graceful shutdown; by default that kills the process
    # before atexit stops the embedded servers. Exiting normally instead lets them stop.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    # log_config=None: uvicorn's loggers propagate into loguru (set up by `prepare`) instead of
    # getting uvicorn's own handlers.
    uvicorn.run(create_app(settings), host=host, port=port, access_log=False, log_level="warning", log_config=None,
                http=LimitedHttpToolsProtocol)


@main.command()
@click.option(
    "--host",
    default="0.0.0.0",  # noqa: S104  (a production server serves its network)
    show_default=True,
    help="Interface to bind.",
)
@click.option("--port", default=8000, show_default=True, help="TCP port to bind.")
@click.option("--workers", default=1, show_default=True, help="Worker processes.")
def run(host: str, port: int, workers: int) -> None:
    """Production server on external PostgreSQL and Redis (DATABASE_URL, REDIS_URL, ADMIN_API_KEY)."""
    settings = prepare(SERVER)
    problems = asyncio.run(preflight(settings))
    if problems:
        for line in problems:
            click.echo(f"error: {line}", err=True)
        sys.exit(1)
    if workers > 1:
        share_metrics_between_workers()
    # One worker serves in this process, already set up; several are spawned processes, each of
    # which sets itself up in `worker_app`.
    config = uvicorn.Config(
        create_app(settings) if workers == 1 else "app.asgi:worker_app",
        factory=workers > 1,
        host=host,
        port=port,
        workers=workers,
        access_log=False,
        log_level="warning",
        log_config=None,
        timeout_graceful_shutdown=30,
        http=LimitedHttpToolsProtocol,
        # uvicorn replaces a worker that misses its 5 s health ping; on a busy host a worker still
        # starting (pool, Redis, listener) can miss it, and the replacements then churn in a loop.
        timeout_worker_healthcheck=30,
    )
    serve(config)


def serve(config: uvicorn.Config) -> None:
    """Bind, say where (uvicorn's own line is INFO, below the server's log level), then serve until stopped.

    This is `uvicorn.run` with the socket bound first for one worker too, so the line is printed
    once, by this process, only after the bind succeeded.
    """
    sock = config.bind_socket()
    workers = f"{config.workers} worker{'s' if config.workers > 1 else ''}"
    # On stderr: stdout carries only JSON log lines (O3), and this line is for the person starting the server.
    click.echo(f"listening on http://{config.host}:{config.port} ({workers}); stop with Ctrl+C or SIGTERM", err=True)
    server = uvicorn.Server(config)
    try:
        if config.workers > 1:
            Multiprocess(config, sockets=[sock]).run()
        else:
            server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    if config.workers == 1 and not server.started:
        sys.exit(3)  # uvicorn's STARTUP_FAILURE: the app's lifespan start-up failed


def share_metrics_between_workers() -> None:
    """Put prometheus-client in multiprocess mode for the workers about to start (S1).

    Uses PROMETHEUS_MULTIPROC_DIR if set (its stale files from an earlier run are removed, as
    prometheus-client requires), else a fresh temporary directory removed at exit. Workers are
    spawned, so they import prometheus-client with the variable already set.
    """
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        Path(directory).mkdir(parents=True, exist_ok=True)
        for stale in Path(directory).glob("*.db"):
            stale.unlink()
    else:
        directory = tempfile.mkdtemp(prefix="cobreja-metrics-")
        atexit.register(shutil.rmtree, directory, ignore_errors=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory


def port_is_free(host: str, port: int) -> bool:
    """Whether a server could bind `host:port` now (checked before the demo token is rotated).

    The probe binds the way uvicorn does, with SO_REUSEADDR: the TIME-WAIT left by a closed connection
    (one `curl` to the last run is enough) does not stop uvicorn, so it must not stop this check either.
    Only a live listener makes the port busy.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _exit_cleanly(signum: int, _frame: object) -> None:
    """Turn a re-raised SIGTERM into a normal exit, so atexit handlers run."""
    sys.exit(0)


main.add_command(tenants_command)

if __name__ == "__main__":
    main()
