"""`/metrics` behind METRICS_TOKEN: a bearer token when set, open when unset (O2, SPEC's contract)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.servers import LiveServer, app_env, serving

METRICS_TOKEN = "test-metrics-token-0123456789"


@pytest.fixture(scope="module")
def protected(server_urls: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """`app run` with METRICS_TOKEN set, logging at DEBUG (to check the token never reaches the log)."""
    log = tmp_path_factory.mktemp("metrics-token") / "server.log"
    with serving(app_env(**server_urls, METRICS_TOKEN=METRICS_TOKEN, LOG_LEVEL="DEBUG"), log) as server:
        yield server


@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token", f"Basic {METRICS_TOKEN}", METRICS_TOKEN,
                                           f"Bearer {METRICS_TOKEN}x"], ids=repr)
def test_without_the_token_metrics_are_refused(protected: LiveServer, authorization: str | None) -> None:
    """No, a wrong or a malformed Authorization header → 401 problem+json with a Bearer challenge, no metrics."""
    headers = {} if authorization is None else {"Authorization": authorization}
    response = httpx.get(protected.url("/metrics"), headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "http_requests_total" not in response.text


def test_with_the_token_metrics_are_served_and_the_token_is_not_logged(protected: LiveServer) -> None:
    """`Authorization: Bearer <METRICS_TOKEN>` → 200 with the metrics; the token appears nowhere in the log."""
    response = httpx.get(protected.url("/metrics"), headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert response.status_code == 200
    assert "http_requests_total" in response.text
    assert METRICS_TOKEN not in protected.log()


async def test_without_metrics_token_metrics_stay_open(client: httpx.AsyncClient) -> None:
    """With METRICS_TOKEN unset (the tests' in-process app), `/metrics` needs no credentials."""
    assert (await client.get("/metrics")).status_code == 200
