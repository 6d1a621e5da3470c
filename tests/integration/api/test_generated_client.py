"""A client generated from /schema/openapi.json by a real generator (openapi-python-client) works against the app.

The generator must accept the document without a warning; the generated functions (named after the operation
ids) then run the items CRUD cycle against `app run`, and a wrong token comes back as the typed `Problem`.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import httpx
import pytest

from tests.support.servers import LiveServer
from tests.support.tenants import Tenant, make_tenant

PACKAGE = "cobreja_client"


@pytest.fixture(scope="module")
def generated(live_server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The client package the generator writes from the live document, importable for this module's tests."""
    directory = tmp_path_factory.mktemp("client")
    spec = directory / "openapi.json"
    spec.write_bytes(httpx.get(live_server.url("/schema/openapi.json")).content)
    result = subprocess.run(
        [sys.executable, "-m", "openapi_python_client", "generate", "--path", str(spec),
         "--output-path", str(directory / PACKAGE), "--meta", "none"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "warning" not in output.lower(), output
    sys.path.insert(0, str(directory))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(directory))


def part(package: ModuleType, name: str) -> Any:
    """A module of the generated package (`api.items.create_item`, `models`)."""
    return importlib.import_module(f"{package.__name__}.{name}")


def client_for(package: ModuleType, base_url: str, token: str) -> Any:
    """The generated authenticated client, sending `token` as X-TOKEN."""
    return part(package, "client").AuthenticatedClient(base_url=base_url, token=token, prefix="",
                                                       auth_header_name="X-TOKEN")


async def test_the_items_crud_cycle_runs_through_the_generated_client(generated: ModuleType,
                                                                      live_server: LiveServer) -> None:
    """The items CRUD cycle (createItem, getItem, patchItem, listItems, deleteItem) through the generated functions."""
    async with httpx.AsyncClient() as http:
        tenant: Tenant = await make_tenant(http, prefix="gen", base_url=live_server.base_url)
    models, items = part(generated, "models"), "api.items."
    client = client_for(generated, live_server.base_url, tenant.token)
    created = part(generated, items + "create_item").sync(client=client, body=models.ItemWrite(title="generated"))
    assert isinstance(created, models.ItemOut), created
    got = part(generated, items + "get_item").sync(created.id, client=client)
    assert got.title == "generated"
    patched = part(generated, items + "patch_item").sync(
        created.id, client=client, body=models.ItemPatch(status=models.ItemStatus.DONE))
    assert patched.status == models.ItemStatus.DONE
    page = part(generated, items + "list_items").sync(client=client)
    assert [item.id for item in page.items] == [created.id]
    deleted = part(generated, items + "delete_item").sync_detailed(created.id, client=client)
    assert deleted.status_code == 204
    gone = part(generated, items + "get_item").sync(created.id, client=client)
    assert isinstance(gone, models.Problem)
    assert gone.status == 404


def test_a_wrong_token_is_a_typed_problem(generated: ModuleType, live_server: LiveServer) -> None:
    """With a wrong token, listItems returns the generated `Problem` model with status 401 (not an untyped body)."""
    models = part(generated, "models")
    answer = part(generated, "api.items.list_items").sync(client=client_for(generated, live_server.base_url, "x" * 43))
    assert isinstance(answer, models.Problem), answer
    assert answer.status == 401
    assert answer.type_.endswith("/unauthenticated")
