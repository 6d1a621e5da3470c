"""The shape every refusal of the service has: an RFC 9457 problem+json body."""

from __future__ import annotations

from typing import Any

import httpx

PROBLEM_JSON = "application/problem+json"


def assert_problem(response: httpx.Response, *statuses: int) -> dict[str, Any]:
    """`response` is a problem+json with a status among `statuses` (any 4xx if none given); its body.

    The body carries non-empty `type`, `title` and `detail` strings and the response's own
    `status`, and no stack trace leaks into it.
    """
    text = response.text[:500]
    if statuses:
        assert response.status_code in statuses, f"{response.status_code} (want {statuses}): {text}"
    else:
        assert 400 <= response.status_code < 500, f"{response.status_code}: {text}"
    assert response.headers["content-type"].startswith(PROBLEM_JSON), response.headers
    body = response.json()
    assert isinstance(body, dict), body
    for key in ("type", "title", "detail"):
        assert isinstance(body.get(key), str), body
        assert body[key], body
    assert body["status"] == response.status_code, body
    assert "Traceback" not in response.text
    return body
