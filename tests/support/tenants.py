"""Tenants for tests: the admin key, unique slugs, creation through the admin API."""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from dataclasses import dataclass

import httpx
from litestar import Litestar

ADMIN_KEY = "test-admin-key-0123456789abcdef"
"""The admin key of every app the tests start (in process or as `app run`)."""
ADMIN_HEADERS = {"X-ADMIN-KEY": ADMIN_KEY}
"""Headers authenticating as the operator."""
MONITORING_PASSWORD = "test-monitoring-password"
"""The MONITORING_PASSWORD of every app the tests start (basic auth for /monitoring/ and /health/detailed)."""
TRUSTED_REDIS_SECONDS = 10.0
"""How long the app may take to trust Redis reads again (the listener retries every second)."""

_slugs = itertools.count()


@dataclass(frozen=True)
class Tenant:
    """A tenant made for one test: its slug, its schema and its token."""

    slug: str
    token: str
    schema: str

    @property
    def headers(self) -> dict[str, str]:
        """Headers authenticating as this tenant."""
        return {"X-TOKEN": self.token}


def unique_slug(prefix: str = "t") -> str:
    """A slug no other test in this session uses (nor another pytest process: the pid is part of it)."""
    return f"{prefix}{os.getpid()}_{next(_slugs)}"


async def make_tenant(http: httpx.AsyncClient, prefix: str = "t", base_url: str = "") -> Tenant:
    """Create a tenant through the admin API (of `http`'s base URL, or of `base_url`); its slug and token.

    Creation must answer 201; the token is the one the API shows once.
    """
    response = await http.post(f"{base_url}/admin/tenants", json={"slug": unique_slug(prefix)}, headers=ADMIN_HEADERS)
    assert response.status_code == 201, response.text
    body = response.json()
    return Tenant(slug=body["tenant"]["slug"], token=body["token"], schema=body["tenant"]["schema"])


def redis_trusted(app: Litestar) -> bool:
    """Whether the in-process app reads Redis: its invalidation listener is subscribed and the outbox drained."""
    return bool(app.state.invalidation.connected.is_set() and app.state.resolver.store.trusted)


async def wait_until_redis_trusted(app: Litestar, within: float = TRUSTED_REDIS_SECONDS) -> None:
    """Poll until the in-process app trusts Redis reads again, failing after `within` seconds.

    The resolver reads Redis only once the invalidation listener has subscribed and drained the
    token outbox (app.tenants.token_store); until then every lookup goes to the registry.
    """
    deadline = time.monotonic() + within
    while not redis_trusted(app):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the app did not trust Redis within {within}s (see the invalidation listener's log)")
        await asyncio.sleep(0.02)


PAGE = 1000
"""The largest page GET /admin/tenants gives."""


async def listed_slugs(http: httpx.AsyncClient, base_url: str = "") -> set[str]:
    """Every slug GET /admin/tenants lists, page after page (the session's database holds many tenants)."""
    slugs: set[str] = set()
    while True:
        response = await http.get(f"{base_url}/admin/tenants", params={"limit": PAGE, "offset": len(slugs)},
                                  headers=ADMIN_HEADERS)
        assert response.status_code == 200, response.text
        page = response.json()
        slugs.update(tenant["slug"] for tenant in page["tenants"])
        if not page["tenants"] or len(slugs) >= page["total"]:
            return slugs
