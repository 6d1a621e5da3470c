"""The circuit breaker around PostgreSQL (app.circuit), with a probe the test controls: no database involved."""

from __future__ import annotations

import asyncio
import time

import pytest

from app.circuit import Circuit, DatabaseUnreachable


class Probe:
    """A probe that succeeds or hangs as the test says, counting its calls."""

    def __init__(self) -> None:
        self.reachable = True
        self.calls = 0

    async def __call__(self, seconds: float) -> None:
        """Answer at once, or hang far past `seconds`."""
        self.calls += 1
        if not self.reachable:
            await asyncio.sleep(seconds * 10)  # a hung server: the circuit's own timeout ends it


async def test_a_unit_on_an_unreachable_database_is_interrupted_within_the_budget() -> None:
    """A unit stuck past budget − probe timeout on an unreachable database: DatabaseUnreachable by the budget."""
    probe = Probe()
    probe.reachable = False
    circuit = Circuit(probe, budget=0.3, interval=0.05)
    started = time.monotonic()
    with pytest.raises(DatabaseUnreachable):
        async with circuit.guard():
            await asyncio.sleep(10)
    assert time.monotonic() - started < 0.3 + 0.1
    assert circuit.is_open
    await circuit.close()


async def test_open_refuses_at_once_and_a_successful_probe_closes_it() -> None:
    """While open every unit is refused without waiting; the background probe closes it once the database answers."""
    probe = Probe()
    probe.reachable = False
    circuit = Circuit(probe, budget=0.3, interval=0.05)
    assert not await circuit.reachable()
    started = time.monotonic()
    with pytest.raises(DatabaseUnreachable):
        async with circuit.guard():
            pytest.fail("an open circuit ran the unit")
    assert time.monotonic() - started < 0.01
    probe.reachable = True
    deadline = time.monotonic() + 2
    while circuit.is_open:
        assert time.monotonic() < deadline, "the circuit did not close after the probe succeeded"
        await asyncio.sleep(0.01)
    async with circuit.guard():
        pass
    await circuit.close()


async def test_a_slow_unit_on_a_reachable_database_goes_on() -> None:
    """Past the watchdog, a probe that succeeds lets the unit finish (a slow query is not an outage)."""
    probe = Probe()
    circuit = Circuit(probe, budget=0.15, interval=0.05)
    async with circuit.guard():
        await asyncio.sleep(0.4)
    assert probe.calls >= 1
    assert not circuit.is_open
    await circuit.close()


async def test_concurrent_stuck_units_share_one_probe() -> None:
    """Fifty units stuck at once cost one probe, not fifty."""
    probe = Probe()
    probe.reachable = False
    circuit = Circuit(probe, budget=0.3, interval=10)

    async def unit() -> None:
        async with circuit.guard():
            await asyncio.sleep(10)

    results = await asyncio.gather(*(unit() for _ in range(50)), return_exceptions=True)
    assert all(isinstance(result, DatabaseUnreachable) for result in results)
    assert probe.calls == 1
    await circuit.close()


async def test_errors_of_the_unit_pass_through() -> None:
    """The unit's own error is raised as it is; a connection error also starts a probe."""
    probe = Probe()
    circuit = Circuit(probe, budget=0.3, interval=0.05)
    with pytest.raises(ConnectionRefusedError):
        async with circuit.guard():
            raise ConnectionRefusedError
    await asyncio.sleep(0.05)
    assert probe.calls == 1
    with pytest.raises(KeyError):
        async with circuit.guard():
            raise KeyError("x")
    await circuit.close()
