"""Headless Debian Chromium driven by Playwright, for the browser tests (tests/e2e).

Playwright's own browser download is never used: Debian's `chromium` (installed by `.ci/run`) runs
through `executable_path`. `NEEDS_BROWSER` skips a test module, saying why, where either is missing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

try:
    from playwright.async_api import async_playwright
except ImportError:  # a dev dependency; absent only in a stripped environment
    HAVE_PLAYWRIGHT = False
else:
    HAVE_PLAYWRIGHT = True

if TYPE_CHECKING:
    from playwright.async_api import Browser

CHROMIUM = Path("/usr/bin/chromium")

NEEDS_BROWSER = [
    pytest.mark.e2e,
    pytest.mark.skipif(not HAVE_PLAYWRIGHT, reason="the Python package playwright is not installed (uv sync)"),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is absent (apt-get install chromium; .ci/run does)"),
]
"""The marks of a module of browser tests."""


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """Headless Debian Chromium for the block."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            yield browser
        finally:
            await browser.close()
