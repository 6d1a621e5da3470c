"""The request class of the app: JSON bodies that cannot be decoded are the client's error (400)."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.exceptions import ClientException


class CobrejaRequest(Request[Any, Any, Any]):
    """Litestar's Request, but a body that is not UTF-8 or nests too deeply is a 400, not a 500.

    Litestar turns msgspec's own decode errors into 400 already; `UnicodeDecodeError` and
    `RecursionError` escape its decoder, and mapping them app-wide would hide real bugs.
    """

    async def json(self) -> Any:
        """The decoded JSON body, or ClientException (400) when it cannot be decoded."""
        try:
            return await super().json()
        except UnicodeDecodeError as exc:
            raise ClientException("The request body is not valid UTF-8 JSON.") from exc
        except RecursionError as exc:
            raise ClientException("The request body's JSON nests too deeply.") from exc
