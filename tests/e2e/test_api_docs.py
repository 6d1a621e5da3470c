"""The API docs in headless Chromium, every non-local request refused: they render offline, Swagger UI calls the API.

Swagger UI (/schema and /schema/swagger) and ReDoc (/schema/redoc) load their scripts and styles from the app
(/schema/assets); a request to any other host is aborted and fails the test. "Authorize" takes the tenant's
X-TOKEN and "Try it out" runs GET /items against the running app.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support.browser import NEEDS_BROWSER, chromium
from tests.support.servers import LiveServer, app_env, serving
from tests.support.tenants import Tenant, make_tenant

if TYPE_CHECKING:
    from playwright.async_api import Page, Route

TIMEOUT_MS = 20_000

pytestmark = NEEDS_BROWSER


@pytest.fixture(scope="module")
def docs_server(server_urls: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """`app run` serving the docs."""
    with serving(app_env(**server_urls), tmp_path_factory.mktemp("docs") / "server.log") as server:
        yield server


@pytest.fixture
async def offline_page(docs_server: LiveServer) -> AsyncIterator[tuple[Page, list[str]]]:
    """A Chromium page on which every request to another host than the app is aborted (and recorded)."""
    app_host = urlsplit(docs_server.base_url).netloc
    refused: list[str] = []

    async def only_the_app(route: Route) -> None:
        if urlsplit(route.request.url).netloc == app_host:
            await route.continue_()
        else:
            refused.append(route.request.url)
            await route.abort()

    async with chromium() as browser:
        page = await browser.new_page()
        await page.route("**/*", only_the_app)
        yield page, refused


@pytest.mark.parametrize("path", ["/schema", "/schema/swagger"])
async def test_swagger_ui_renders_every_operation_offline(offline_page: tuple[Page, list[str]],
                                                          docs_server: LiveServer, path: str) -> None:
    """Swagger UI shows the operations (listItems, createTenant ...) with nothing fetched from another host."""
    page, refused = offline_page
    await page.goto(docs_server.url(path))
    await page.wait_for_selector(".opblock", timeout=TIMEOUT_MS)
    summaries = await page.locator(".opblock-summary-path").all_inner_texts()
    assert "/items" in [text.replace("\u200b", "") for text in summaries]
    assert await page.locator(".opblock").count() >= 15
    assert refused == []


async def test_redoc_renders_offline(offline_page: tuple[Page, list[str]], docs_server: LiveServer) -> None:
    """ReDoc shows the API's operations, with no web font or script from another host."""
    page, refused = offline_page
    await page.goto(docs_server.url("/schema/redoc"))
    await page.get_by_text("List items, newest first").first.wait_for(state="attached", timeout=TIMEOUT_MS)
    assert "Create a tenant" in await page.inner_text("body")
    assert refused == []


async def test_swagger_authorize_and_try_it_out_lists_the_tenants_items(
        offline_page: tuple[Page, list[str]], docs_server: LiveServer) -> None:
    """Authorize with a tenant's X-TOKEN, then Try it out → Execute on GET /items: 200 and the tenant's item."""
    async with httpx.AsyncClient(base_url=docs_server.base_url, timeout=10.0) as http:
        tenant: Tenant = await make_tenant(http, prefix="docs")
        created = await http.post("/items", json={"title": "seen through swagger"}, headers=tenant.headers)
        assert created.status_code == 201
    page, refused = offline_page
    await page.goto(docs_server.url("/schema/swagger"))
    await page.wait_for_selector(".opblock", timeout=TIMEOUT_MS)
    await page.click("button.authorize")
    dialog = page.locator(".auth-container").filter(has_text="TenantToken")
    await dialog.locator("input").fill(tenant.token)
    await dialog.locator("button.authorize").click()
    await page.click("button.close-modal")
    operation = page.locator("#operations-items-listItems")
    await operation.locator(".opblock-summary").click()
    await operation.locator("button.try-out__btn").click()
    await operation.locator("button.execute").click()
    status = operation.locator(".live-responses-table tbody .response-col_status").first
    await status.wait_for(timeout=TIMEOUT_MS)
    assert (await status.inner_text()).strip() == "200"
    assert "seen through swagger" in await operation.locator(".live-responses-table").inner_text()
    assert refused == []
