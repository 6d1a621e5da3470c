"""Once the app has started, start-up's objects are frozen and young collections are spaced out."""

from __future__ import annotations

import gc

import httpx

from app.memory import THRESHOLDS


async def test_a_started_app_froze_its_start_up_objects(client: httpx.AsyncClient) -> None:
    """The lifespan ran `settle_after_start_up`: objects in the permanent generation, thresholds raised."""
    assert gc.get_freeze_count() > 10_000  # imports and start-up alone leave far more than this
    assert gc.get_threshold() == THRESHOLDS
    assert gc.isenabled()
    assert (await client.get("/health")).status_code == 200
