"""The 1 s cross-process revocation bound (T1): two `app run` processes sharing Redis, a 60 s in-process cache.

A rotation, suspension or deletion made through one process reaches the other within a second,
which only the pub/sub invalidation can explain. Waits are polls with deadlines, not fixed sleeps.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support.probes import INVALIDATION_BOUND_SECONDS, admin_call, assert_stays, seconds_until, status_of, warm
from tests.support.servers import LiveServer, app_env, serving
from tests.support.tenants import make_tenant


@pytest.fixture(scope="module")
def pair(server_urls: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[LiveServer]]:
    """Two `app run` processes on the session's PostgreSQL and Redis, with a 60 s in-process token cache.

    With so long a TTL, only the pub/sub invalidation can explain a worker refusing a token fast.
    """
    log_dir = tmp_path_factory.mktemp("pair")
    env = app_env(**server_urls, TOKEN_CACHE_TTL_SECONDS="60")
    with serving(env, log_dir / "A.log", name="A") as a, serving(env, log_dir / "B.log", name="B") as b:
        yield [a, b]


async def change_reaches_b(http: httpx.AsyncClient, a: LiveServer, b: LiveServer, token: str,
                           change: tuple[str, str], *, expected: int, before: int) -> httpx.Response:
    """Make `change` (method, path) through A: A answers `expected` for `token` at once, B within the bound.

    Returns the admin call's response.
    """
    response = await admin_call(http, a, *change)
    since = time.monotonic()
    assert await status_of(http, a, token) == expected
    await seconds_until(http, b, token, expected=expected, before=before, since=since, limit=INVALIDATION_BOUND_SECONDS)
    return response


async def test_rotation_is_refused_by_the_other_process_within_one_second(
    http: httpx.AsyncClient, pair: list[LiveServer]
) -> None:
    """Rotating a token through process A: A refuses the old token at once, B within 1 s (60 s cache)."""
    a, b = pair
    tenant = await make_tenant(http, "r", a.base_url)
    await warm(http, [a, b], tenant.token)
    rotated = await change_reaches_b(http, a, b, tenant.token, ("POST", f"/admin/tenants/{tenant.slug}/rotate-token"),
                                     expected=401, before=200)
    body = rotated.json()
    await assert_stays(http, b, tenant.token, 401)
    await warm(http, [a, b], body["token"], times=1)


async def test_suspend_and_resume_reach_the_other_process_within_one_second(
    http: httpx.AsyncClient, pair: list[LiveServer]
) -> None:
    """Suspending through A makes both processes answer 403 within 1 s, and resuming serves it again within 1 s."""
    a, b = pair
    tenant = await make_tenant(http, "r", a.base_url)
    await warm(http, [a, b], tenant.token)
    await change_reaches_b(http, a, b, tenant.token, ("POST", f"/admin/tenants/{tenant.slug}/suspend"),
                           expected=403, before=200)
    await assert_stays(http, b, tenant.token, 403)
    await change_reaches_b(http, a, b, tenant.token, ("POST", f"/admin/tenants/{tenant.slug}/resume"),
                           expected=200, before=403)


async def test_delete_is_refused_by_the_other_process_within_one_second(
    http: httpx.AsyncClient, pair: list[LiveServer]
) -> None:
    """Deleting a tenant through A makes both processes answer 401 for its token within 1 s."""
    a, b = pair
    tenant = await make_tenant(http, "r", a.base_url)
    await warm(http, [a, b], tenant.token)
    await change_reaches_b(http, a, b, tenant.token, ("DELETE", f"/admin/tenants/{tenant.slug}"),
                           expected=401, before=200)
    await assert_stays(http, b, tenant.token, 401)
