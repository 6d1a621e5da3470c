"""Interleaved multi-tenant traffic (R2) against a running server: the oracle of the isolation tests.

Tenants, each owning items whose titles start with `<slug>|`, are driven by interleaved requests
(list, get, create, patch, plus cross-tenant probes) in shuffled order, many in flight at a time.
If a transaction-local `search_path` ever leaked from one request into the next, some tenant would
see a row whose title names another. Used directly and through a transaction pooler.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx

from app.db import quote_ident
from tests.support.tenants import Tenant, make_tenant

SEED_ITEMS = 3
IN_FLIGHT = 50
SEED = 20_261_123
STATUSES = ["pending", "in_progress", "done"]


@dataclass
class Book:
    """What one tenant has written, as the client knows it (the oracle of the test)."""

    tenant: Tenant
    ids: list[str] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    created: int = 0

    @property
    def prefix(self) -> str:
        """The title prefix that marks this tenant's rows."""
        return self.tenant.slug + "|"


@dataclass
class Tally:
    """Outcome counts over the whole run."""

    by_kind: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    foreign_rows: list[str] = field(default_factory=list)


@dataclass
class Run:
    """One load run: the client, every tenant's book, the random source and the tally."""

    http: httpx.AsyncClient
    books: list[Book]
    rng: random.Random
    tally: Tally = field(default_factory=Tally)

    def check(self, book: Book, item: dict[str, Any], where: str) -> None:
        """`item`, seen by `book`'s tenant, must carry that tenant's prefix; remember its id."""
        if not str(item.get("title", "")).startswith(book.prefix):
            self.tally.foreign_rows.append(f"{book.tenant.slug} saw {item!r} in {where}")
        book.seen.add(str(item["id"]))

    async def one(self, kind: str, book: Book, n: int) -> None:
        """Send request number `n`, of `kind`, as `book`'s tenant, and record the outcome."""
        self.tally.by_kind[kind] += 1
        if kind.startswith("foreign"):
            await self.foreign(kind, book)
            return
        handler = {"list": self.list, "get": self.get, "create": self.create, "patch": self.patch}[kind]
        response = await handler(book, n)
        if not response.is_success:
            self.tally.failures.append(f"{kind} as {book.tenant.slug}: {response.status_code} {response.text[:300]}")

    async def list(self, book: Book, n: int) -> httpx.Response:
        """GET /items (sometimes filtered by status): every row must be the caller's."""
        params: dict[str, Any] = {"limit": 200}
        if n % 3 == 0:
            params["status"] = self.rng.choice(STATUSES)
        response = await self.http.get("/items", params=params, headers=book.tenant.headers)
        if response.is_success:
            for item in response.json()["items"]:
                self.check(book, item, "GET /items")
        return response

    async def get(self, book: Book, n: int) -> httpx.Response:
        """GET /items/{id} of one of the caller's items."""
        item_id = self.rng.choice(book.ids)
        response = await self.http.get(f"/items/{item_id}", headers=book.tenant.headers)
        if response.is_success:
            self.check(book, response.json(), f"GET /items/{{id}} #{n}")
            if response.json()["id"] != item_id:
                self.tally.failures.append(f"asked {item_id}, got {response.json()['id']}")
        return response

    async def create(self, book: Book, n: int) -> httpx.Response:
        """POST /items with a title carrying the caller's prefix."""
        body = {"title": f"{book.prefix}new|{n}", "status": self.rng.choice(STATUSES)}
        response = await self.http.post("/items", json=body, headers=book.tenant.headers)
        if response.is_success:
            item = response.json()
            self.check(book, item, "POST /items")
            book.ids.append(item["id"])
            book.created += 1
        return response

    async def patch(self, book: Book, n: int) -> httpx.Response:
        """PATCH the title of one of the caller's items."""
        item_id = self.rng.choice(book.ids)
        body = {"title": f"{book.prefix}patched|{n}"}
        response = await self.http.patch(f"/items/{item_id}", json=body, headers=book.tenant.headers)
        if response.is_success:
            self.check(book, response.json(), "PATCH /items/{id}")
        return response

    async def foreign(self, kind: str, book: Book) -> None:
        """GET or PATCH another tenant's item by its id: it must not exist for the caller (404)."""
        other = self.rng.choice([candidate for candidate in self.books if candidate is not book])
        item_id = self.rng.choice(other.ids)
        url, headers = f"/items/{item_id}", book.tenant.headers
        if kind == "foreign-get":
            response = await self.http.get(url, headers=headers)
        else:
            response = await self.http.patch(url, json={"title": f"{book.prefix}stolen"}, headers=headers)
        if response.status_code != 404:
            self.tally.foreign_rows.append(
                f"{book.tenant.slug} {kind} {other.tenant.slug}'s {item_id}: {response.status_code} {response.text}"
            )


async def seed(http: httpx.AsyncClient, index: int) -> Book:
    """Create one tenant through the admin API and give it SEED_ITEMS items."""
    book = Book(await make_tenant(http, prefix=f"iso{index}x"))
    for i in range(SEED_ITEMS):
        response = await http.post("/items", json={"title": f"{book.prefix}seed|{i}"}, headers=book.tenant.headers)
        assert response.status_code == 201, response.text
        item = response.json()
        book.ids.append(item["id"])
        book.created += 1
    return book


async def assert_isolated_under_load(base_url: str, pg: asyncpg.Connection, *, tenants: int, requests: int) -> None:
    """`requests` shuffled, concurrent requests over `tenants` new tenants on `base_url`: zero foreign rows.

    Every response is 2xx (cross-tenant probes 404), every row any tenant sees carries its own
    prefix, no tenant can read or patch another's item by id, and at the end each tenant's total,
    ids and stored rows (read through `pg`, bypassing the service) are exactly what it created.
    """
    rng = random.Random(SEED)  # noqa: S311  (a reproducible workload, not a secret)
    # Idle connections are dropped well before uvicorn's 5 s keep-alive closes them: reusing one the
    # server is closing at that moment would fail the request (httpx.ReadError), on a busy machine.
    limits = httpx.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT, keepalive_expiry=2.0)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60) as http:
        books = list(await asyncio.gather(*(seed(http, index) for index in range(tenants))))
        assert len({book.tenant.slug for book in books}) == tenants

        kinds = ["list"] * 30 + ["get"] * 25 + ["create"] * 20 + ["patch"] * 15 + ["foreign-get"] * 6
        kinds += ["foreign-patch"] * 4
        plan = [(rng.choice(kinds), books[n % tenants]) for n in range(requests)]
        rng.shuffle(plan)
        run = Run(http, books, rng)
        tally = run.tally
        gate = asyncio.Semaphore(IN_FLIGHT)

        async def guarded(n: int, kind: str, book: Book) -> None:
            async with gate:
                await run.one(kind, book, n)

        await asyncio.gather(*(guarded(n, kind, book) for n, (kind, book) in enumerate(plan)))

        assert sum(tally.by_kind.values()) == requests
        assert not tally.failures, f"{len(tally.failures)} non-2xx responses, e.g. {tally.failures[:5]}"
        assert not tally.foreign_rows, f"{len(tally.foreign_rows)} isolation breaches: {tally.foreign_rows[:5]}"
        assert min(tally.by_kind.values()) > 50, tally.by_kind

        owner = {item_id: book.tenant.slug for book in books for item_id in book.ids}
        assert len(owner) == sum(len(book.ids) for book in books), "an id was issued twice"
        for book in books:
            strays = {item_id for item_id in book.seen if owner.get(item_id) != book.tenant.slug}
            assert not strays, f"{book.tenant.slug} saw ids it never created: {sorted(strays)[:5]}"

            final = await http.get("/items", params={"limit": 200}, headers=book.tenant.headers)
            assert final.status_code == 200, final.text
            page = final.json()
            assert page["total"] == book.created == len(book.ids)
            assert {item["id"] for item in page["items"]} == set(book.ids)
            assert all(item["title"].startswith(book.prefix) for item in page["items"]), page["items"]
            assert not any(item["title"].endswith("|stolen") for item in page["items"])

    for book in books:  # and in the database itself, bypassing the service
        table = f"{quote_ident('tenant_' + book.tenant.slug)}.item"
        rows = await pg.fetch(f"SELECT id::text AS id, title FROM {table}")
        assert {row["id"] for row in rows} == set(book.ids)
        assert all(row["title"].startswith(book.prefix) for row in rows)


