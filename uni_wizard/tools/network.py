"""Network tools: plain HTTP GET and POST with a capped, streamed body.

Only ``http`` and ``https`` URLs are accepted. What the server answers is
data: a 404 or a 500 comes back as a result with its ``status``. Failures
worth retrying (connection refused, timeouts, HTTP 502/503/504) raise
``TransientToolError``; other transport failures raise ``ToolExecutionError``.
The body is read in chunks and reading stops at ``max_bytes`` (never more than
``ToolEnv.max_output_bytes``), so a huge answer costs no more than the cap.
"""

from __future__ import annotations

import codecs
import time
from collections.abc import Mapping
from typing import Any

import httpx

from ..errors import ToolCallError, ToolExecutionError, TransientToolError
from .env import ToolEnv
from .spec import Risk, tool

__all__ = ["RETRYABLE_STATUSES", "http_get", "http_post", "safe_url", "transport_failure"]

RETRYABLE_STATUSES = frozenset({502, 503, 504})
_KEPT_HEADERS = ("content-type", "content-length")


def safe_url(url: httpx.URL) -> str:
    """``url`` fit for a message: no user info, no query (either may hold a secret)."""
    port = f":{url.port}" if url.port is not None else ""
    return f"{url.scheme}://{url.host}{port}{url.path}"


def transport_failure(exc: httpx.HTTPError, where: str) -> ToolExecutionError:
    """The package error for an httpx failure that produced no response.

    Timeouts, refused or dropped connections and a server that hangs up
    mid-answer are transient; anything else (a TLS or protocol error) is not.
    """
    if isinstance(exc, httpx.TimeoutException):
        return TransientToolError(f"{where}: timed out ({type(exc).__name__})")
    if isinstance(exc, httpx.NetworkError | httpx.RemoteProtocolError):
        reason = str(exc) or type(exc).__name__
        return TransientToolError(f"{where}: connection failed: {reason}")
    return ToolExecutionError(f"{where}: {type(exc).__name__}: {exc}")


def _check_url(url: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise ToolCallError(f"invalid URL: {exc}") from None
    if parsed.scheme not in ("http", "https"):
        raise ToolCallError(f"only http and https URLs are allowed, not {parsed.scheme or 'no'!r} scheme")
    if not parsed.host:
        raise ToolCallError("the URL has no host")
    return parsed


def _check_limits(timeout: float, max_bytes: int) -> None:
    if not timeout > 0:
        raise ToolCallError(f"timeout must be positive, not {timeout!r}")
    if max_bytes < 0:
        raise ToolCallError(f"max_bytes must not be negative, not {max_bytes!r}")


def _decode(data: bytes, charset: str | None, complete: bool) -> str:
    try:
        decoder = codecs.getincrementaldecoder(charset or "utf-8")(errors="replace")
    except LookupError:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    # A cut body may end inside a multi-byte character: leave that character out.
    return decoder.decode(data, final=complete)


async def _fetch(
    env: ToolEnv,
    method: str,
    url: str,
    *,
    headers: Mapping[str, str],
    timeout: float,
    max_bytes: int,
    json_body: Any = None,
    content: str | None = None,
) -> dict[str, Any]:
    parsed = _check_url(url)
    _check_limits(timeout, max_bytes)
    cap = min(max_bytes, env.max_output_bytes)
    where = f"{method} {safe_url(parsed)}"
    started = time.monotonic()
    kept = bytearray()
    truncated = False
    try:
        async with env.http_client(timeout=timeout) as client:
            try:
                request = client.build_request(method, parsed, headers=dict(headers), json=json_body, content=content)
            except (ValueError, TypeError) as exc:  # a malformed header, a body JSON cannot encode
                raise ToolCallError(f"{where}: cannot build the request: {exc}") from None
            response = await client.send(request, stream=True)
            try:
                if response.status_code in RETRYABLE_STATUSES:
                    raise TransientToolError(
                        f"{where}: the server answered HTTP {response.status_code} {response.reason_phrase}"
                    )
                async for chunk in response.aiter_bytes():
                    room = cap - len(kept)
                    kept += chunk[:room]
                    if len(chunk) > room:
                        truncated = True
                        break
            finally:
                await response.aclose()
    except httpx.HTTPError as exc:
        raise transport_failure(exc, where) from exc
    return {
        "status": response.status_code,
        "headers": {k: response.headers[k] for k in _KEPT_HEADERS if k in response.headers},
        "body": _decode(bytes(kept), response.charset_encoding, complete=not truncated),
        "truncated": truncated,
        "elapsed": round(time.monotonic() - started, 3),
    }


@tool(group="network")
async def http_get(
    env: ToolEnv,
    url: str,
    headers: Mapping[str, str] = {},
    timeout: float = 15.0,
    max_bytes: int = 1_000_000,
) -> dict[str, Any]:
    """Fetch a URL with HTTP GET and return its status, main headers and (capped) body text.

    Any status is a result (a 404 is returned, not raised); connection failures,
    timeouts and HTTP 502/503/504 are errors worth retrying. Redirects are not followed.

    Args:
        url: The http:// or https:// URL to fetch.
        headers: Extra request headers, name to value.
        timeout: Seconds to wait for connecting and for each read.
        max_bytes: Read at most this many bytes of body; `truncated` tells whether there was more.
    """
    return await _fetch(env, "GET", url, headers=headers, timeout=timeout, max_bytes=max_bytes)


@tool(group="network", mutates=True, idempotent=False, risk=Risk.MEDIUM)
async def http_post(
    env: ToolEnv,
    url: str,
    json_body: dict[str, Any] | None = None,
    body: str = "",
    headers: Mapping[str, str] = {},
    timeout: float = 15.0,
    max_bytes: int = 1_000_000,
) -> dict[str, Any]:
    """Send an HTTP POST with a JSON or text body and return the answer's status, main headers and body.

    Any status is a result; connection failures, timeouts and HTTP 502/503/504 are
    errors. Not retried automatically: the server may have acted before failing.

    Args:
        url: The http:// or https:// URL to post to.
        json_body: A JSON object to send (sets Content-Type: application/json); exclusive with body.
        body: Raw text to send instead of json_body; set Content-Type in headers if it matters.
        headers: Extra request headers, name to value.
        timeout: Seconds to wait for connecting and for each read.
        max_bytes: Read at most this many bytes of the answer; `truncated` tells whether there was more.
    """
    if json_body is not None and body:
        raise ToolCallError("give json_body or body, not both")
    return await _fetch(
        env,
        "POST",
        url,
        headers=headers,
        timeout=timeout,
        max_bytes=max_bytes,
        json_body=json_body,
        content=body if json_body is None else None,
    )
