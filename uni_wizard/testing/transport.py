"""``RecordingTransport``: an httpx transport that wraps another, records every exchange, and fails or
delays the requests a test chooses.

    line = RecordingTransport()                        # wraps a real httpx.AsyncHTTPTransport()
    client = GiteaClient(url, token, transport=line)
    line.fail(writes, times=2)                         # the next two writes: ConnectError, never sent
    line.fail(matching("POST", "/merge$"), after=True) # the next merge is applied, its answer lost (ReadError)
    line.fail(reads, status=503)                       # the next read is answered 503 by the line itself
    line.delay(0.5, matching(path="/issues$"))         # every issue listing waits half a second first
    ...
    assert line.lines(writes=True, answered=True) == ["POST /api/v1/repos/mesh/work/issues/1/comments"]

Each request becomes one ``Exchange`` (method, path, status, error, seconds, ...) in ``exchanges``, in the
order the requests finished. ``before(request)`` runs before a request is sent, ``after(request, response)``
once it is answered. ``close_inner=False`` keeps the wrapped transport open when a client closes (for tools
that open and close a client per call on one transport); ``await line.inner.aclose()`` closes it for good.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

__all__ = ["Exchange", "Fault", "Match", "RecordingTransport", "anything", "matching", "reads", "writes"]

Match = Callable[[httpx.Request], bool]
"""Which requests a fault applies to."""

_READS = frozenset({"GET", "HEAD"})
_DECODED = frozenset({"content-encoding", "content-length", "transfer-encoding"})  # the body is handed on decoded


def anything(request: httpx.Request) -> bool:
    return True


def reads(request: httpx.Request) -> bool:
    """GET and HEAD."""
    return request.method in _READS


def writes(request: httpx.Request) -> bool:
    """Every method but GET and HEAD."""
    return request.method not in _READS


def matching(method: str | None = None, path: str | None = None) -> Match:
    """Requests of ``method`` (any when None) whose URL path matches the regular expression ``path``."""
    pattern = re.compile(path) if path is not None else None

    def match(request: httpx.Request) -> bool:
        same = method is None or request.method == method.upper()
        return same and (pattern is None or pattern.search(request.url.path) is not None)

    return match


@dataclass(frozen=True)
class Exchange:
    """One request and what became of it.

    ``status`` is what the server (or an injected ``status``) answered, None when no answer came; ``error``
    the name of the exception the caller got ("" when none: an answer, even 4xx, is not an error here);
    ``injected`` whether a fault of the line caused it; ``seconds`` the wait for the answer; ``at`` the
    ``time.perf_counter()`` when it finished; ``body`` the answer's (decoded) bytes with ``keep_bodies``.
    """

    method: str
    path: str
    query: str
    status: int | None
    error: str = ""
    injected: bool = False
    seconds: float = 0.0
    at: float = 0.0
    request_body: bytes = b""
    content_type: str = ""
    body: bytes | None = None

    @property
    def line(self) -> str:
        """``"METHOD /path"``."""
        return f"{self.method} {self.path}"

    @property
    def is_write(self) -> bool:
        return self.method not in _READS

    def json(self) -> Any:
        """The answer's JSON (None without a kept JSON body)."""
        if not self.body or not self.content_type.startswith("application/json"):
            return None
        return json.loads(self.body)


@dataclass
class Fault:
    """What ``RecordingTransport.fail`` and ``delay`` add: ``times`` left (None: every matching request, 0: off).

    A failing fault raises ``httpx.ConnectError`` before the request is sent, or with ``after`` sends it and
    raises ``httpx.ReadError`` instead of handing the answer on; with ``status`` the line answers that status
    itself (a Gitea-style ``{"message", "url"}`` body) without sending. ``delay`` waits first.
    """

    match: Match
    times: int | None = 1
    fails: bool = True
    after: bool = False
    status: int | None = None
    delay: float = 0.0
    hits: int = 0

    def take(self, request: httpx.Request) -> bool:
        if self.times == 0 or not self.match(request):
            return False
        if self.times is not None:
            self.times -= 1
        self.hits += 1
        return True


class RecordingTransport(httpx.AsyncBaseTransport):
    """Wraps ``inner`` (default: a real ``httpx.AsyncHTTPTransport()``); see the module docstring.

    ``log``: the list to append the exchanges to (share one between several transports); ``keep_bodies``:
    keep each answer's body in its ``Exchange``; ``down``: while True every request fails unsent.
    """

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport | None = None,
        *,
        log: list[Exchange] | None = None,
        keep_bodies: bool = False,
        close_inner: bool = True,
        before: Callable[[httpx.Request], None] | None = None,
        after: Callable[[httpx.Request, httpx.Response], None] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.inner = inner if inner is not None else httpx.AsyncHTTPTransport()
        self.exchanges: list[Exchange] = log if log is not None else []
        self.faults: list[Fault] = []
        self.keep_bodies = keep_bodies
        self.close_inner = close_inner
        self.before = before
        self.after = after
        self.down = False
        self._sleep = sleep

    def fail(
        self, match: Match = anything, *, times: int | None = 1, after: bool = False, status: int | None = None
    ) -> Fault:
        """Fail the next ``times`` requests that ``match`` (see ``Fault``)."""
        fault = Fault(match, times, after=after, status=status)
        self.faults.append(fault)
        return fault

    def delay(self, seconds: float, match: Match = anything, *, times: int | None = None) -> Fault:
        """Wait ``seconds`` before sending the requests that ``match`` (every one; ``times`` to limit)."""
        fault = Fault(match, times, fails=False, delay=seconds)
        self.faults.append(fault)
        return fault

    @property
    def requests(self) -> list[str]:
        """``"METHOD /path"`` of every request, in the order they finished."""
        return [exchange.line for exchange in self.exchanges]

    def lines(self, *, writes: bool | None = None, answered: bool = False) -> list[str]:
        """``"METHOD /path"`` of the requests: only writes (True) or reads (False); only those answered."""
        return [
            e.line
            for e in self.exchanges
            if (writes is None or e.is_write == writes) and (not answered or (e.status is not None and not e.error))
        ]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        started = time.perf_counter()
        if self.before is not None:
            self.before(request)
        taken = [fault for fault in self.faults if fault.take(request)]
        for fault in taken:
            if fault.delay:
                await self._sleep(fault.delay)
        failing = next((f for f in taken if f.fails), None)
        if self.down or (failing is not None and not failing.after):
            return self._refuse(request, failing, started)
        try:
            response = await self.inner.handle_async_request(request)
        except Exception as exc:
            self._record(request, None, started, error=type(exc).__name__)
            raise
        if failing is not None:  # an "after" fault: the forge did it, the caller never hears
            await response.aread()
            self._record(request, response, started, error="ReadError", injected=True)
            raise httpx.ReadError("injected: the answer was lost", request=request)
        if self.keep_bodies:
            response = await self._decoded(request, response)
        self._record(request, response, started)
        if self.after is not None:
            self.after(request, response)
        return response

    def _refuse(self, request: httpx.Request, fault: Fault | None, started: float) -> httpx.Response:
        if fault is not None and fault.status is not None:
            body = {"message": "injected by RecordingTransport", "url": ""}
            response = httpx.Response(fault.status, json=body, request=request)
            self._record(request, response, started, injected=True)
            return response
        self._record(request, None, started, error="ConnectError", injected=True)
        raise httpx.ConnectError("injected: the forge is unreachable", request=request)

    @staticmethod
    async def _decoded(request: httpx.Request, response: httpx.Response) -> httpx.Response:
        content = await response.aread()
        headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in _DECODED]
        return httpx.Response(response.status_code, headers=headers, content=content, request=request,
                              extensions=response.extensions)  # fmt: skip

    def _record(
        self, request: httpx.Request, response: httpx.Response | None, started: float, *, error: str = "",
        injected: bool = False,
    ) -> None:  # fmt: skip
        try:
            sent = request.content
        except httpx.RequestNotRead:
            sent = b""
        kept = None
        if response is not None and self.keep_bodies:
            try:
                kept = response.content
            except httpx.ResponseNotRead:
                kept = None
        now = time.perf_counter()
        self.exchanges.append(
            Exchange(
                method=request.method,
                path=request.url.path,
                query=request.url.query.decode(),
                status=response.status_code if response is not None else None,
                error=error,
                injected=injected,
                seconds=now - started,
                at=now,
                request_body=sent,
                content_type=response.headers.get("content-type", "") if response is not None else "",
                body=kept,
            )
        )

    async def aclose(self) -> None:
        if self.close_inner:
            await self.inner.aclose()
