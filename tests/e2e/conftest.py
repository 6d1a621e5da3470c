"""The `e2e` marker: tests that drive a real browser (select them with `pytest tests/e2e` or `-m e2e`)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    """Declare the marker (the suite runs with --strict-markers)."""
    config.addinivalue_line("markers", "e2e: drives headless Chromium through Playwright (tests/e2e)")
