"""Loguru set-up: one sink on stderr at LOG_LEVEL (structured JSON lines come with the telemetry work)."""

from __future__ import annotations

import sys

from loguru import logger


def configure_logging(level: str) -> None:
    """Replace loguru's default DEBUG sink with one at `level`."""
    logger.remove()
    logger.add(sys.stderr, level=level.upper(), backtrace=False, diagnose=False)
