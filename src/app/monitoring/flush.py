"""The dashboard's background work in each worker: flush the recorder to Redis, sample health.

About every `FLUSH_SECONDS` the flusher takes the recorder's window and writes it, this worker's
report (in flight, listener state) and what its cumulative counters (SQL statements, token cache)
added, in one pipelined round trip. If Redis fails, the window is dropped — dashboard figures,
never client data — and the counters' deltas carry over to the next flush that works; the
failure is logged once per outage, not once a second. Every `HEALTH_EVERY_SECONDS` the health
sampler probes PostgreSQL and Redis and adds a sample to the shared history (and to a local one,
shown while Redis does not answer).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections import deque
from collections.abc import Callable

from loguru import logger
from opentelemetry.instrumentation.utils import suppress_instrumentation
from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.background import pause
from app.monitoring import store
from app.monitoring.checks import check_database, check_redis, overall_status
from app.monitoring.document import HealthSample
from app.monitoring.recording import Clock, Recorder
from app.telemetry import ProcessCounts, process_counts

FLUSH_SECONDS = 1.0
HEALTH_EVERY_SECONDS = 15.0
LOCAL_HISTORY = 50
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"

DescribeWorker = Callable[[], store.WorkerReport]


class Flusher:
    """Writes what this worker recorded to Redis; remembers whether the last flush failed."""

    def __init__(self, recorder: Recorder | None, redis: Redis, describe: DescribeWorker, clock: Clock) -> None:
        self.recorder = recorder
        self.redis = redis
        self.describe = describe
        self.clock = clock
        self.counted = process_counts()
        self.failing = False

    async def flush(self) -> bool:
        """One flush; False (and logged, once per outage) when Redis did not take it."""
        window = self.recorder.take() if self.recorder is not None else None
        counts = process_counts()
        deltas = _deltas(self.counted, counts)
        now = self.clock()
        pipe = self.redis.pipeline(transaction=False)
        if window is not None:
            store.write_window(pipe, window, deltas)
        else:
            store.write_deltas(pipe, now, deltas)
        store.write_worker(pipe, self.describe(), now)
        try:
            await pipe.execute()
        except (RedisError, OSError) as exc:
            if not self.failing:
                logger.warning("monitoring: flush to Redis failed ({}); the dashboard misses this worker's "
                               "traffic until Redis answers", type(exc).__name__)
            self.failing = True
            return False
        self.counted = counts
        if self.failing:
            logger.info("monitoring: flushing to Redis again")
            self.failing = False
        return True

    async def run(self, stop: asyncio.Event) -> None:
        """Flush every FLUSH_SECONDS until `stop` is set, then once more (what came in meanwhile)."""
        with suppress_instrumentation():  # a flush a second is not a request's work
            while not stop.is_set():
                await pause(stop, FLUSH_SECONDS)
                await self.flush()


def _deltas(before: ProcessCounts, after: ProcessCounts) -> store.Deltas:
    return store.Deltas(after.db_queries - before.db_queries, after.token_cache_hits - before.token_cache_hits,
                        after.token_cache_misses - before.token_cache_misses)


class HealthSampler:
    """Probes the dependencies every HEALTH_EVERY_SECONDS and keeps the samples, in Redis and locally."""

    def __init__(self, redis: Redis, clock: Clock) -> None:
        self.redis = redis
        self.clock = clock
        self.local: deque[HealthSample] = deque(maxlen=LOCAL_HISTORY)

    async def sample(self) -> HealthSample:
        """Probe PostgreSQL and Redis once, keep the sample, and return it."""
        database, cache = await check_database(), await check_redis(self.redis)
        sample = HealthSample(time=round(self.clock(), 3), status=overall_status(database, cache),
                              database_ms=database.response_time_ms if database.status == "up" else None,
                              redis_ms=cache.response_time_ms if cache.status == "up" else None, worker=WORKER_ID)
        self.local.appendleft(sample)
        pipe = self.redis.pipeline(transaction=False)
        store.write_health(pipe, sample)
        with contextlib.suppress(RedisError, OSError):  # the flusher logs outages; the local history has it
            await pipe.execute()
        return sample

    async def run(self, stop: asyncio.Event) -> None:
        """Sample at once, then every HEALTH_EVERY_SECONDS until `stop` is set."""
        with suppress_instrumentation():
            while not stop.is_set():
                await self.sample()
                await pause(stop, HEALTH_EVERY_SECONDS)
