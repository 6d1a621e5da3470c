"""The request class of the app: a body is read as JSON only when it says it is JSON, and bad JSON is a 400."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from litestar import Request
from litestar.exceptions import ClientException, HTTPException
from litestar.exceptions.http_exceptions import RequestEntityTooLarge


class UnsupportedBodyType(HTTPException):
    """The body declares a media type other than JSON (text/plain, a form, XML ...)."""

    status_code = HTTPStatus.UNSUPPORTED_MEDIA_TYPE


def is_json_media_type(content_type: str) -> bool:
    """Whether a Content-Type value names JSON: `application/json` or any `application/<x>+json`."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json"))


class CobrejaRequest(Request[Any, Any, Any]):
    """Litestar's Request, strict about what it decodes as JSON.

    - A body whose Content-Type is not JSON is a 415 (Litestar would decode a `text/plain` or form
      body as JSON anyway, or call it malformed JSON). A body without a Content-Type is read as JSON,
      for clients that do not set one.
    - A body over the size limit is a 413 that states the limit.
    - A body that is not UTF-8 or nests too deeply is a 400, not a 500: Litestar turns msgspec's own
      decode errors into 400 already; `UnicodeDecodeError` and `RecursionError` escape its decoder,
      and mapping them app-wide would hide real bugs.
    """

    async def body(self) -> bytes:
        """The body; over the size limit, a 413 that states the limit (Litestar's own says only "too large")."""
        try:
            return await super().body()
        except RequestEntityTooLarge as exc:
            limit = self.route_handler.resolve_request_max_body_size()
            raise RequestEntityTooLarge(f"The request body is larger than the limit of {limit} bytes.") from exc

    async def json(self) -> Any:
        """The decoded JSON body; 415 for a non-JSON media type, 400 when it cannot be decoded."""
        content_type = self.headers.get("content-type")
        if content_type is not None and not is_json_media_type(content_type):
            raise UnsupportedBodyType(
                f"The body must be JSON: send `Content-Type: application/json` (got {content_type[:100]!r})."
            )
        try:
            return await super().json()
        except UnicodeDecodeError as exc:
            raise ClientException("The request body is not valid UTF-8 JSON.") from exc
        except RecursionError as exc:
            raise ClientException("The request body's JSON nests too deeply.") from exc
