"""The forge's error answers, turned into the package's errors in one place.

Classified by status code, never by message text; the two refinements of 422
(``ShaMismatch``, ``FileExists``) read the message on a best-effort basis only:

    401 Unauthorized   403 Forbidden (the body may be empty)   404 NotFound
    405 NotAllowed     409 Conflict    412 PreconditionFailed   423 Locked
    422 Unprocessable; ShaMismatch ("sha does not match"); FileExists ("file already exists", contents routes)
    5xx ServerError    any other status ForgeError

The error keeps Gitea's ``message``, the URL (no query, no user info), the
status and the decoded body. Secrets (token, password) are replaced by ``***``
in everything the error carries.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import httpx

from ..errors import (
    Conflict,
    FileExists,
    Forbidden,
    ForgeError,
    Locked,
    NotAllowed,
    NotFound,
    PreconditionFailed,
    ServerError,
    ShaMismatch,
    Unauthorized,
    Unprocessable,
)

__all__ = ["error_for_response", "safe_url", "scrub"]

_BY_STATUS: dict[int, type[ForgeError]] = {
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    405: NotAllowed,
    409: Conflict,
    412: PreconditionFailed,
    422: Unprocessable,
    423: Locked,
}
_BODY_CHARS = 2000


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every secret replaced by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def safe_url(url: httpx.URL) -> str:
    """``url`` fit for a message: no user info, no query."""
    port = f":{url.port}" if url.port is not None else ""
    return f"{url.scheme}://{url.host}{port}{url.path}"


def _decode(text: str) -> tuple[Any, str]:
    """The body as JSON (or as text) and Gitea's ``message`` (or the start of the text)."""
    try:
        body: Any = json.loads(text)
    except ValueError:
        return text[:_BODY_CHARS], text[:200].strip()
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return body, str(body["message"])
    return body, text[:200].strip()


def error_for_response(response: httpx.Response, route: str, secrets: Iterable[str | None] = ()) -> ForgeError:
    """The ``ForgeError`` for an error answer (status >= 400, or an unexpected 3xx)."""
    secrets = tuple(secrets)
    status = response.status_code
    body, message = _decode(scrub(response.text, secrets))
    url = scrub(safe_url(response.request.url), secrets)
    cls = _BY_STATUS.get(status)
    if cls is None:
        cls = ServerError if status >= 500 else ForgeError
    if status == 422:
        lowered = message.lower()
        if "sha does not match" in lowered:
            cls = ShaMismatch
        elif "file already exists" in lowered and "/contents" in route:  # not "branch already exists"
            cls = FileExists
    detail = message or response.reason_phrase or "no message"
    error = cls(
        f"forge {response.request.method} {url}: HTTP {status}: {detail}",
        status=status,
        url=url,
        body=body,
    )
    error.message = message  # Gitea's own text ("" for the bodiless 403); str(error) has the context
    return error
