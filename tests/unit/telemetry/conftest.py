"""Fixtures shared by the unit tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from loguru import logger

from app.telemetry.logging import json_line


@pytest.fixture
def captured() -> Iterator[list[str]]:
    """Lines loguru formats with our JSON formatter, at every level."""
    lines: list[str] = []
    sink = logger.add(lines.append, format=json_line, level="DEBUG")
    yield lines
    logger.remove(sink)
