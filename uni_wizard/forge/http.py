"""The forge client's core: one request path with auth, retries, breaker and metrics.

Every API call goes through ``ForgeSession._request``:

1. the URL is built from a route *template* and its arguments (each quoted;
   the template, never the concrete path, labels the metrics);
2. one attempt runs inside the breaker (``with breaker.calling(): await ...``,
   never ``breaker.call()``, which would not await: CASCADE_FACTS §2);
   a transport failure becomes ``ForgeUnavailable``, an error answer the
   ``ForgeError`` of its status (``status.error_for_response``);
3. only GET and HEAD are retried (tenacity, explicit ``retry=``), on
   ``ForgeUnavailable`` and 502/503/504, never on ``CircuitBreakerError``.
   POST, PUT, PATCH and DELETE are sent once: a lease write or a merge may
   have happened before the failure;
4. a refusal by the open breaker becomes ``ForgeUnavailable`` without a request;
5. with a ``json_decoder`` (the dispatcher's worker process), a JSON answer of ``LARGE_JSON_BYTES`` or
   more (a page of issues with multi-megabyte bodies) is decoded by it, off the event loop, and handed
   on as a ``DecodedResponse`` whose ``json()`` returns the result.

The breaker counts only connection failures, timeouts and 5xx: cancellation and
4xx answers (a 404 is an answer, not an outage) are excluded.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

import httpx
import pybreaker
from prometheus_client import REGISTRY, CollectorRegistry
from tenacity import AsyncRetrying, retry_if_exception, retry_if_not_exception_type, stop_after_attempt
from tenacity.wait import wait_exponential_jitter

from .._version import __version__
from ..errors import ConfigError, ForgeError, ForgeUnavailable, ServerError, ToolCallError
from .metrics import ForgeMetrics
from .models import Version
from .pagination import MAX_LIMIT, paginate
from .status import error_for_response, safe_url, scrub

__all__ = ["FEATURES", "LARGE_JSON_BYTES", "RETRYABLE_STATUSES", "DecodedResponse", "ForgeSession", "forge_breaker"]

LARGE_JSON_BYTES = 1024 * 1024  # answers this big are decoded by the session's json_decoder, when it has one

FEATURES: dict[str, tuple[int, int, int]] = {
    # feature -> first Gitea version known to have it (GITEA_FACTS §7: absent in 1.23, present in 1.26).
    "issue_assignees": (1, 26, 0),  # POST/DELETE /issues/{n}/assignees
    "contents_put_create": (1, 26, 0),  # PUT /contents/{path} without sha creates
    "content_version": (1, 26, 0),  # optimistic locking on issue/PR PATCH
    "branch_update": (1, 26, 0),  # PUT /branches/{branch}
    "hook_name": (1, 26, 0),
    "pull_base_branch_filter": (1, 26, 0),
}

RETRYABLE_STATUSES = frozenset({502, 503, 504})
_IDEMPOTENT = frozenset({"GET", "HEAD"})
_SLASHED = frozenset({"branch", "filepath", "ref"})  # route arguments that may hold "/"
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_TOKEN_RE = re.compile(r"^[\x21-\x7e]+$")  # one printable ASCII word: Gitea wants "token <T>"


class DecodedResponse(httpx.Response):
    """A forge answer whose JSON was decoded elsewhere already: ``json()`` returns that value."""

    _skipped = frozenset({"content-encoding", "content-length", "transfer-encoding"})  # content is decoded

    def __init__(self, response: httpx.Response, value: Any) -> None:
        headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in self._skipped]
        super().__init__(
            response.status_code,
            headers=headers,
            content=response.content,
            request=response.request,
            extensions=response.extensions,
            history=response.history,
        )
        self._decoded = value

    def json(self, **kwargs: Any) -> Any:
        return self._decoded if not kwargs else super().json(**kwargs)


def _not_a_health_signal(exc: BaseException) -> bool:
    """4xx answers and the like say nothing about the forge's health: they count as successes."""
    return not isinstance(exc, ForgeUnavailable | ServerError)


def forge_breaker(*, fail_max: int = 5, reset_timeout: float = 30.0, name: str = "forge") -> pybreaker.CircuitBreaker:
    """A breaker for one forge: opens after ``fail_max`` consecutive outages (not 4xx, not cancellation).

    Share one between the clients of the same forge so they all see its health.
    """
    excluded: list[Any] = [asyncio.CancelledError, _not_a_health_signal]
    return pybreaker.CircuitBreaker(
        fail_max=fail_max,
        reset_timeout=reset_timeout,
        exclude=excluded,
        name=name,
    )


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, ForgeUnavailable):
        return True
    return isinstance(exc, ServerError) and exc.status in RETRYABLE_STATUSES


def _api_root(base_url: str) -> str:
    base = base_url.rstrip("/")
    if not base.endswith("/api/v1"):
        base += "/api/v1"
    try:
        url = httpx.URL(base)
    except httpx.InvalidURL:
        raise ConfigError("the forge URL is not a valid URL", key="gitea_url") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ConfigError("the forge URL must start with http:// or https:// and name a host", key="gitea_url")
    return base


def _segment(name: str, value: object) -> str:
    text = str(value)
    if name in _SLASHED:
        parts = text.split("/")
        if not text or any(part in ("", ".", "..") for part in parts):
            raise ToolCallError(f"{name} {text!r} is not a valid path (empty, '.' or '..' part)")
        return "/".join(quote(part, safe="") for part in parts)
    if not text or text in (".", ".."):
        raise ToolCallError(f"{name} {text!r} is not a valid path segment")
    return quote(text, safe="")


class ForgeSession:
    """Connection, credentials and the request path shared by every ``GiteaClient`` operation."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        username: str | None = None,
        password: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 10.0,
        registry: CollectorRegistry = REGISTRY,
        breaker: pybreaker.CircuitBreaker | None = None,
        retries: int = 2,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        json_decoder: Callable[[bytes], Awaitable[Any]] | None = None,
    ) -> None:
        if token is not None and not _TOKEN_RE.fullmatch(token):
            raise ConfigError("the forge token must be one word of printable ASCII", key="gitea_token")
        if (username is None) != (password is None):
            raise ConfigError("give both username and password for basic auth, or neither")
        self.base_url = _api_root(base_url)
        self._basic = httpx.BasicAuth(username, password) if username is not None and password is not None else None
        self._secrets = (token, password)
        self._default_auth: httpx.Auth | None = None if token else self._basic
        headers = {"Accept": "application/json", "User-Agent": f"uni-wizard/{__version__}"}
        if token:
            headers["Authorization"] = f"token {token}"
        self._http = httpx.AsyncClient(transport=transport, timeout=timeout, headers=headers, follow_redirects=False)
        self.metrics = ForgeMetrics.for_registry(registry)
        self.breaker = breaker if breaker is not None else forge_breaker()
        self.retries = max(0, retries)
        self._sleep = sleep
        self._version: Version | None = None
        self.json_decoder = json_decoder

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def version(self) -> Version:
        """``GET /version`` (read once, then remembered)."""
        if self._version is None:
            self._version = Version.model_validate(await self._json("GET", "/version"))
        return self._version

    async def supports(self, feature: str) -> bool:
        """Whether the forge's version has ``feature`` (a key of ``FEATURES``); False when unknown.

        The client sticks to the 1.23-compatible subset and asks this before anything newer.
        """
        if feature not in FEATURES:
            raise ToolCallError(f"unknown forge feature {feature!r}; known: {', '.join(sorted(FEATURES))}")
        return (await self.version()).number >= FEATURES[feature]

    def _url(self, route: str, path: Mapping[str, object]) -> str:
        return self.base_url + _PLACEHOLDER.sub(lambda m: _segment(m[1], path[m[1]]), route)

    async def _request(
        self,
        method: str,
        route: str,
        *,
        path: Mapping[str, object] | None = None,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        basic_auth: bool = False,
    ) -> httpx.Response:
        """Send one API call (retried if idempotent); the successful answer, or the mapped error."""
        url = self._url(route, path or {})
        auth = self._basic if basic_auth else self._default_auth  # BasicAuth overwrites the token header
        request = self._http.build_request(method, url, params=params, json=json)

        tripped: list[BaseException] = []  # the failure of the attempt that tripped the breaker, if any

        async def attempt() -> httpx.Response:
            return await self._attempt(request, route, auth, tripped)

        try:
            if method not in _IDEMPOTENT or self.retries == 0:
                response = await attempt()
            else:
                retrying = AsyncRetrying(
                    retry=retry_if_exception(_retryable) & retry_if_not_exception_type(pybreaker.CircuitBreakerError),
                    stop=stop_after_attempt(self.retries + 1),
                    wait=wait_exponential_jitter(multiplier=0.2, max=2.0, jitter=0.2),
                    sleep=self._sleep,
                    reraise=True,
                )
                response = await retrying(attempt)
        except pybreaker.CircuitBreakerError:
            if tripped:  # this call's own failure opened the breaker: report that failure
                raise tripped[-1] from None
            raise ForgeUnavailable(
                f"forge {method} {safe_url(request.url)}: not sent, the forge's circuit breaker is open "
                f"(it admits a trial call {self.breaker.reset_timeout:g} s after it opened)"
            ) from None
        return await self._predecoded(response)

    async def _predecoded(self, response: httpx.Response) -> httpx.Response:
        """A large JSON answer decoded by ``json_decoder`` (see the module docstring); others as they are."""
        decoder = self.json_decoder
        if decoder is None or len(response.content) < LARGE_JSON_BYTES:
            return response
        if "json" not in response.headers.get("content-type", "").lower():
            return response
        try:
            value = await decoder(response.content)
        except (ValueError, RecursionError):  # not JSON after all: decoding it in place raises the usual ForgeError
            return response
        return DecodedResponse(response, value)

    async def _attempt(
        self, request: httpx.Request, route: str, auth: httpx.Auth | None, tripped: list[BaseException]
    ) -> httpx.Response:
        tripped.clear()
        with self.breaker.calling():
            try:
                return await self._send(request, route, auth)
            except (ForgeError, ForgeUnavailable) as exc:
                tripped.append(exc)  # read only if the breaker turns this failure into CircuitBreakerError
                raise

    async def _send(self, request: httpx.Request, route: str, auth: httpx.Auth | None) -> httpx.Response:
        method = request.method
        started = time.monotonic()
        try:
            response = await self._http.send(request, auth=auth if auth is not None else httpx.USE_CLIENT_DEFAULT)
        except httpx.HTTPError as exc:
            self.metrics.observe(method, route, "error", time.monotonic() - started)
            reason = scrub(str(exc) or type(exc).__name__, self._secrets)
            where = f"forge {method} {safe_url(request.url)}"
            if not isinstance(exc, httpx.TransportError):  # e.g. an undecodable body: an answer came
                raise ForgeError(f"{where}: {type(exc).__name__}: {reason}", url=safe_url(request.url)) from None
            kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "unreachable"
            raise ForgeUnavailable(f"{where}: {kind}: {reason}") from None
        self.metrics.observe(method, route, response.status_code, time.monotonic() - started)
        if response.status_code >= 300:
            raise error_for_response(response, route, self._secrets)
        return response

    async def _json(self, method: str, route: str, **kwargs: Any) -> Any:
        """``_request`` and the decoded JSON answer (None for an empty body)."""
        response = await self._request(method, route, **kwargs)
        if not response.content:
            return None
        try:
            return response.json()
        except (ValueError, RecursionError):  # RecursionError: nested deeper than the decoder goes
            raise ForgeError(
                f"forge {method} {safe_url(response.request.url)}: HTTP {response.status_code} "
                "with a body that is not JSON",
                status=response.status_code,
                url=safe_url(response.request.url),
            ) from None

    async def _list(
        self,
        route: str,
        *,
        path: Mapping[str, object] | None = None,
        params: Mapping[str, Any] | None = None,
        limit: int | None = None,
    ) -> list[Any]:
        """Every item of a paginated list (at most ``limit``; None: all of them)."""

        async def fetch(query: Mapping[str, Any]) -> httpx.Response:
            return await self._request("GET", route, path=path, params=query)

        page_size = MAX_LIMIT if limit is None else min(max(limit, 1), MAX_LIMIT)
        return [item async for item in paginate(fetch, params, limit=page_size, max_items=limit)]
