"""The per-tenant rate limit of `app run`: 429 + Retry-After for one tenant, the others unaffected."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from tests.support.problems import assert_problem
from tests.support.servers import app_env, serving
from tests.support.tenants import Tenant, make_tenant


async def test_rate_limit_is_per_tenant_with_retry_after(
    http: httpx.AsyncClient, server_urls: dict[str, str], tmp_path: Path
) -> None:
    """The per-tenant rate limit answers 429 + Retry-After to the noisy tenant only.

    5 requests/s with a burst of 5: 20 requests at once from one tenant get some 429 problem+json
    with an integer Retry-After >= 1 while another tenant is served meanwhile; after waiting
    Retry-After seconds the first tenant is served again.
    """
    env = app_env(
        **server_urls,
        TENANT_RATE_LIMIT_PER_SECOND="5",
        TENANT_RATE_LIMIT_BURST="5",
    )
    with serving(env, tmp_path / "limited.log", name="limited") as server:
        noisy = await make_tenant(http, "noisy", server.base_url)
        quiet = await make_tenant(http, "quiet", server.base_url)

        async def get(tenant: Tenant) -> httpx.Response:
            return await http.get(server.url("/items"), headers=tenant.headers)

        responses = await asyncio.gather(*[get(noisy) for _ in range(20)], *[get(quiet) for _ in range(4)])
        noisy_responses, quiet_responses = responses[:20], responses[20:]

        assert [r.status_code for r in quiet_responses] == [200] * 4
        limited = [r for r in noisy_responses if r.status_code == 429]
        served = [r for r in noisy_responses if r.status_code == 200]
        assert len(limited) + len(served) == 20, [r.status_code for r in noisy_responses]
        assert len(limited) >= 5, f"only {len(limited)} of 20 were limited"
        assert len(served) >= 5, "the burst is allowed"
        retry_after = 0
        for response in limited:
            assert_problem(response, 429)
            value = response.headers["Retry-After"]
            assert value.isdigit(), value
            assert int(value) >= 1
            retry_after = max(retry_after, int(value))

        assert (await get(quiet)).status_code == 200, "the other tenant is still served"
        await asyncio.sleep(retry_after)
        assert (await get(noisy)).status_code == 200, "served again after Retry-After"
