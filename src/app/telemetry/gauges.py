"""Sampled gauges: the pool of this worker, and facts about the whole fleet and the machine.

A background task per worker reads them every `SAMPLE_INTERVAL_SECONDS`, so a scrape never waits on
PostgreSQL and a request never pays for them:
- pool size and connections in use go into `livesum` gauges (summed over live workers);
- tenants by status, migration runs and failures and the machine's CPU, memory and disk are the
  same whichever worker reads them, so `FleetCollector` exposes the latest reading of the worker
  answering the scrape. Telemetry knows no tenancy tables: the registry's counts are read by a
  callable (`ReadRegistry`) that the app's assembly hands in;
- in multiprocess mode, each worker's CPU seconds and resident memory (`pid` label), which
  prometheus-client's own process collector cannot report there.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field

import psutil
from loguru import logger
from opentelemetry.instrumentation.utils import suppress_instrumentation
from prometheus_client import Gauge
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from app.background import pause, running
from app.db import ENGINE
from app.telemetry.metrics import DB_CONNECTIONS_ACTIVE, DB_POOL_SIZE, MULTIPROCESS
from app.telemetry.system import system_usage

SAMPLE_INTERVAL_SECONDS = 5.0
RETRY_SECONDS = 1.0
STOP_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class RegistryCounts:
    """What the registry says of the fleet: tenants by status, and the migration ledger's totals."""

    tenants_by_status: dict[str, int]
    migration_runs: int
    """Fleet migration runs recorded."""
    migration_failures: int
    """Failed tenant migrations recorded."""


ReadRegistry = Callable[[], Awaitable[RegistryCounts]]
"""Reads the registry's counts (tenancy provides it: `app.tenants.registry_counts`)."""

# Only in multiprocess mode; with one process prometheus-client's process collector reports these.
PROCESS_CPU = Gauge("process_cpu_seconds_total", "CPU time of each worker.", multiprocess_mode="liveall",
                    registry=None) if MULTIPROCESS else None
PROCESS_MEMORY = Gauge("process_resident_memory_bytes", "Resident memory of each worker.",
                       multiprocess_mode="liveall", registry=None) if MULTIPROCESS else None


@dataclass
class FleetSnapshot:
    """The latest reading of fleet and machine facts (None until first read)."""

    tenants: dict[str, int] | None = None
    migration_runs: int | None = None
    migration_failures: int | None = None
    system: dict[str, float] = field(default_factory=dict)


SNAPSHOT = FleetSnapshot()


class FleetCollector:
    """A prometheus-client collector over `SNAPSHOT` (added to the registry `/metrics` exposes)."""

    def collect(self) -> Iterator[Metric]:
        """The snapshot as metric families; facts not yet read are left out rather than shown as 0."""
        if SNAPSHOT.tenants is not None:
            tenants = GaugeMetricFamily("tenants_total", "Tenants in the registry, by status.", labels=["status"])
            for status, count in sorted(SNAPSHOT.tenants.items()):
                tenants.add_metric([status], count)
            yield tenants
        if SNAPSHOT.migration_runs is not None:
            yield CounterMetricFamily("migration_runs", "Fleet migration runs recorded in the ledger.",
                                      value=SNAPSHOT.migration_runs)
            yield CounterMetricFamily("migration_failures", "Failed tenant migrations recorded in the ledger.",
                                      value=SNAPSHOT.migration_failures)
        for name, value in SNAPSHOT.system.items():
            yield GaugeMetricFamily(f"system_{name}_percent", f"Machine {name} use, in percent.", value=value)


def sample_pool() -> None:
    """Record the pool size and connections in use of this worker."""
    pool = ENGINE.pool
    if pool is not None:
        size = pool.get_size()
        DB_POOL_SIZE.set(size)
        DB_CONNECTIONS_ACTIVE.set(size - pool.get_idle_size())


def sample_machine(process: psutil.Process) -> None:
    """Machine CPU, memory and disk, and (multiprocess) this worker's CPU time and memory."""
    SNAPSHOT.system = system_usage()
    if PROCESS_CPU is not None and PROCESS_MEMORY is not None:
        times = process.cpu_times()
        PROCESS_CPU.set(times.user + times.system)
        PROCESS_MEMORY.set(process.memory_info().rss)


async def sample_registry(read: ReadRegistry) -> None:
    """Keep the registry's latest counts for the next scrape."""
    counts = await read()
    SNAPSHOT.tenants = dict(counts.tenants_by_status)
    SNAPSHOT.migration_runs = counts.migration_runs
    SNAPSHOT.migration_failures = counts.migration_failures


async def sample_until(stop: asyncio.Event, read: ReadRegistry | None,
                       interval: float = SAMPLE_INTERVAL_SECONDS) -> None:
    """Read everything every `interval` seconds until `stop` is set; retry a failed registry read within a second.

    Without `read`, the registry's counts are left out. Stopping waits for a read in flight
    instead of cancelling it (see app.background).
    """
    process = psutil.Process()
    with suppress_instrumentation():  # background reads are not part of any request's trace
        while not stop.is_set():
            sample_pool()
            sample_machine(process)
            wait = interval
            try:
                if read is not None:
                    await sample_registry(read)
            except Exception as exc:
                logger.debug("metrics sampler could not read the registry: {}", type(exc).__name__)
                wait = RETRY_SECONDS
            await pause(stop, wait)


def sampling(read: ReadRegistry | None) -> contextlib.AbstractAsyncContextManager[None]:
    """Run the sampler for the lifetime of the block."""

    async def sample(stop: asyncio.Event) -> None:
        await sample_until(stop, read)

    return running(sample, "metrics sampler", STOP_TIMEOUT_SECONDS)
