"""The forge's error answers, turned into the package's errors in one place.

Classified by status code (the table below); nothing else in the package classifies an answer by its text:

    401 Unauthorized   403 Forbidden (the body may be empty)   404 NotFound
    405 NotAllowed     409 Conflict    412 PreconditionFailed   423 Locked
    422 Unprocessable; on a contents route: ShaMismatch ("sha does not match"),
                       FileExists ("repository file already exists")
    5xx ServerError    any other status ForgeError

The two refinements of 422 are the one place the message is read, because it is the only signal Gitea gives:
its contents API answers a lost compare-and-swap and a create over an existing file with the same status and
the same ``{"message", "url"}`` body as any other validation failure, with no error code
(``routers/api/v1/repo/file.go``, ``handleChangeRepoFilesError``; GITEA_FACTS §3, the contents write errors).
They are looked for on the contents routes only, where those two errors come from.

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
_CONTENTS_422: tuple[tuple[str, type[Unprocessable]], ...] = (
    ("sha does not match", ShaMismatch),  # files_service.ErrSHADoesNotMatch
    ("repository file already exists", FileExists),  # ErrRepoFileAlreadyExists (not "branch already exists")
)


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


def _is_contents(route: str) -> bool:
    """``/repos/{owner}/{repo}/contents`` and ``.../contents/{filepath}`` (not ``/contents-ext``, 1.26)."""
    return route.endswith("/contents") or "/contents/" in route


def _class_for(status: int, route: str, message: str) -> type[ForgeError]:
    """The class of an error answer: by status; a contents route's 422 by Gitea's message (the module docstring)."""
    if status == 422 and _is_contents(route):
        lowered = message.lower()
        for text, refined in _CONTENTS_422:
            if text in lowered:
                return refined
    return _BY_STATUS.get(status) or (ServerError if status >= 500 else ForgeError)


def error_for_response(response: httpx.Response, route: str, secrets: Iterable[str | None] = ()) -> ForgeError:
    """The ``ForgeError`` for an error answer (status >= 400, or an unexpected 3xx)."""
    secrets = tuple(secrets)
    status = response.status_code
    body, message = _decode(scrub(response.text, secrets))
    url = scrub(safe_url(response.request.url), secrets)
    cls = _class_for(status, route, message)
    detail = message or response.reason_phrase or "no message"
    error = cls(
        f"forge {response.request.method} {url}: HTTP {status}: {detail}",
        status=status,
        url=url,
        body=body,
    )
    error.message = message  # Gitea's own text ("" for the bodiless 403); str(error) has the context
    return error
