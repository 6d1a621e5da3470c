"""`app tenants ...`: the CLI face of the tenant service (same service layer as the admin API)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg
import click
import msgspec

from app.console import TENANTS_CLI, fail, prepare
from app.errors import UNAVAILABLE_ERRORS, DomainError
from app.tenants.assembly import standalone_service
from app.tenants.service import TenantService
from app.tenants.structs import TenantCreated, TenantOut

T = TypeVar("T")
_ENVIRONMENT_ERRORS: tuple[type[Exception], ...] = (*UNAVAILABLE_ERRORS, asyncpg.PostgresError, ValueError)
"""Failures of the servers or their configuration (wrong database, role, URL), not of the request."""


def run_with_service(work: Callable[[TenantService], Awaitable[T]]) -> T:
    """Run `work` against the configured (or embedded dev) servers.

    Exit 2 for a malformed setting, 1 for a refused request or an unreachable database, each with
    one `error:` line on stderr and no traceback.
    """
    settings = prepare(TENANTS_CLI)

    async def main() -> T:
        async with standalone_service(settings) as service:
            return await work(service)

    try:
        return asyncio.run(main())
    except DomainError as exc:
        fail(exc.detail)
    except _ENVIRONMENT_ERRORS as exc:
        fail(f"PostgreSQL or Redis is unreachable ({type(exc).__name__}: {exc}); check DATABASE_URL and REDIS_URL")


def _print_tenant(tenant: TenantOut) -> None:
    click.echo(f"{tenant.slug}\t{tenant.status}\tschema={tenant.schema}\tcreated={tenant.created_at:%Y-%m-%d %H:%M:%S}")


def _print_created(created: TenantCreated, as_json: bool) -> None:
    if as_json:
        click.echo(msgspec.json.encode(created).decode())
        return
    _print_tenant(created.tenant)
    click.echo(f"token: {created.token}")
    click.echo("Store the token now: it is kept only as a hash and cannot be shown again.", err=True)


@click.group("tenants")
def tenants() -> None:
    """Create and inspect tenants."""


@tenants.command("create")
@click.argument("slug")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def create(slug: str, as_json: bool) -> None:
    """Create tenant SLUG and print its token (once)."""
    _print_created(run_with_service(lambda service: service.create(slug)), as_json)


@tenants.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
def list_(as_json: bool) -> None:
    """List every tenant."""
    found = run_with_service(lambda service: service.list_tenants())
    if as_json:
        click.echo(msgspec.json.encode(found).decode())
    for tenant in [] if as_json else found:
        _print_tenant(tenant)


@tenants.command("show")
@click.argument("slug")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def show(slug: str, as_json: bool) -> None:
    """Show tenant SLUG."""
    tenant = run_with_service(lambda service: service.get(slug))
    click.echo(msgspec.json.encode(tenant).decode()) if as_json else _print_tenant(tenant)


@tenants.command("suspend")
@click.argument("slug")
def suspend(slug: str) -> None:
    """Suspend tenant SLUG: its requests get 403 until resumed."""
    _print_tenant(run_with_service(lambda service: service.suspend(slug)))


@tenants.command("resume")
@click.argument("slug")
def resume(slug: str) -> None:
    """Resume a suspended tenant SLUG."""
    _print_tenant(run_with_service(lambda service: service.resume(slug)))


@tenants.command("rotate-token")
@click.argument("slug")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def rotate_token(slug: str, as_json: bool) -> None:
    """Issue a new token for SLUG (printed once); the old one stops working at once."""
    _print_created(run_with_service(lambda service: service.rotate_token(slug)), as_json)


@tenants.command("delete")
@click.argument("slug")
@click.option("--yes", is_flag=True, help="Confirm: the tenant's schema and all its data are dropped.")
def delete(slug: str, yes: bool) -> None:
    """Delete tenant SLUG and all its data (requires --yes; re-running finishes an interrupted delete)."""
    if not yes:
        fail(f"deleting {slug!r} drops all its data; repeat with --yes to confirm", code=2)
    run_with_service(lambda service: service.delete(slug))
    click.echo(f"deleted {slug}")
