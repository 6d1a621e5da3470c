"""The dashboard put together for a running app: the recorder handed to telemetry, and the background work."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import AsyncIterator

from litestar.datastructures import State

from app.background import running
from app.monitoring.flush import WORKER_ID, Flusher, HealthSampler
from app.monitoring.recording import Clock, Recorder
from app.monitoring.report import Dashboard
from app.monitoring.store import WorkerReport
from app.settings import Settings
from app.tenants import listener_state

STOP_GRACE_SECONDS = 3.0


def recorder_for(settings: Settings, clock: Clock = time.time) -> Recorder | None:
    """The request recorder `settings` ask for (None with MONITORING_RECORDING=false)."""
    return Recorder(settings.slow_request_ms, clock) if settings.monitoring_recording else None


@contextlib.asynccontextmanager
async def dashboard(state: State, settings: Settings, recorder: Recorder | None, version: str = "",
                    clock: Clock = time.time) -> AsyncIterator[None]:
    """Put the `Dashboard` on `state`; flush and sample health in the background meanwhile.

    Expects tenancy on `state` (its Redis client and invalidation listener).
    """
    started = clock()

    def describe() -> WorkerReport:
        listening, trusted = listener_state(state)
        return WorkerReport(id=WORKER_ID, pid=os.getpid(), started=started,
                            in_flight=recorder.in_flight if recorder is not None else 0,
                            requests=recorder.recorded if recorder is not None else 0,
                            listener_connected=listening, redis_trusted=trusted)

    health = HealthSampler(state.redis, clock)
    flusher = Flusher(recorder, state.redis, describe, clock)
    state.dashboard = Dashboard(state.redis, health, clock=clock, slow_request_ms=settings.slow_request_ms,
                                recording=recorder is not None, version=version)
    async with (running(flusher.run, "monitoring flusher", STOP_GRACE_SECONDS),
                running(health.run, "health sampler", STOP_GRACE_SECONDS)):
        yield
