"""The daemon's front door: every request body is bounded, and authenticated before it is read.

    app = BodyGuard(inner, rules=[BodyRule("api", "/api/v1/", 1 << 20, bearer=token)], registry=registry)

An ASGI middleware that sits outside the whole FastAPI stack (``create_app`` puts it there), so it acts
before anything parses a body. For a request that carries a body (a ``Content-Length`` above 0, a
``Transfer-Encoding``, or any method but GET, HEAD and OPTIONS) under the first ``BodyRule`` whose
prefix matches the path (else the ``other`` rule):

1. the bearer token is checked *before a byte of the body is read*: 401 without it, 503 when the rule
   is ``off`` (no token or no webhook secret configured);
2. a declared ``Content-Length`` over ``max_body`` is 413 at once;
3. the body is read by the guard, counted as it arrives: past ``max_body`` (a chunked or streamed
   body) 413; not complete within ``body_timeout`` seconds (a client that stalls) 408; more bodies
   being read at once than ``inflight_budget`` bytes allow 503 with ``Retry-After``; a client that
   hangs up is counted and nothing else happens;
4. only then is the app called, with the body replayed from memory.

Every refusal is answered with ``Connection: close``, so the server does not go on reading (and
discarding) the rest of a body it refused. Refusals are counted in
``uniwizard_http_refused_total{route,reason}`` (route: the rule's name; reason: unauthorized, off,
too_large, timeout, busy, disconnected) and logged at DEBUG level only: input from an unauthenticated
client must not be able to write the daemon's log. A ``ClientDisconnect`` that escapes the app
anyway (the client left while the app streamed its answer) is counted the same way, never a traceback.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from prometheus_client import REGISTRY, CollectorRegistry, Counter
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..metricset import MetricSet

__all__ = [
    "BODY_TIMEOUT",
    "DEFAULT_MAX_BODY",
    "INFLIGHT_BUDGET",
    "REASONS",
    "BodyGuard",
    "BodyRule",
    "GuardMetrics",
]

log = logging.getLogger(__name__)

DEFAULT_MAX_BODY = 64 * 1024  # paths that take no body
BODY_TIMEOUT = 30.0  # seconds for a whole body to arrive
INFLIGHT_BUDGET = 64 * 1024 * 1024  # bytes of bodies held at once, all requests together
REASONS = ("unauthorized", "off", "too_large", "timeout", "busy", "disconnected")
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class BodyRule:
    """Bodies sent to ``prefix`` (a path, or a prefix ending in ``/``): at most ``max_body`` bytes.

    ``bearer``: the token a request with a body must bear, checked before the body is read. ``off``:
    when set, a request with a body is answered 503 with this text (the endpoint is not configured).
    ``name`` is the metric's ``route`` label.
    """

    name: str
    prefix: str
    max_body: int
    bearer: str | None = None
    off: str | None = None

    def matches(self, path: str) -> bool:
        if self.prefix.endswith("/"):
            return path.startswith(self.prefix) or path == self.prefix.rstrip("/")
        return path == self.prefix or path.startswith(self.prefix + "/")


class GuardMetrics(MetricSet):
    """``uniwizard_http_refused_total{route,reason}``, created once per registry (``for_registry``)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__(registry)
        self.refused = Counter(
            "uniwizard_http_refused",
            "Requests refused or abandoned before the app saw them, by rule and reason.",
            ["route", "reason"],
            registry=registry,
        )

    def count(self, route: str, reason: str) -> None:
        self.refused.labels(route, reason).inc()


@dataclass(frozen=True)
class _Head:
    """What the guard needs from the request line and headers."""

    method: str
    length: int | None
    chunked: bool
    authorization: bytes

    @classmethod
    def of(cls, scope: Scope) -> _Head:
        length: int | None = None
        chunked = False
        authorization = b""
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.strip().isdigit():
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = True
            elif name == b"authorization":
                authorization = value
        return cls(str(scope.get("method", "GET")).upper(), length, chunked, authorization)

    @property
    def has_body(self) -> bool:
        return self.chunked or bool(self.length) or self.method not in _SAFE_METHODS


class _Refused(Exception):
    """Internal: the body will not be passed on; answer ``status`` (0: nobody to answer)."""

    def __init__(self, status: int, reason: str, detail: str, headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
        super().__init__(detail)
        self.status, self.reason, self.detail, self.headers = status, reason, detail, tuple(headers)


class BodyGuard:
    """The middleware (see the module docstring); ``rules`` are tried in order."""

    def __init__(
        self,
        app: ASGIApp,
        rules: Sequence[BodyRule],
        *,
        registry: CollectorRegistry = REGISTRY,
        default_max: int = DEFAULT_MAX_BODY,
        body_timeout: float = BODY_TIMEOUT,
        inflight_budget: int = INFLIGHT_BUDGET,
    ) -> None:
        self.app = app
        self.rules = tuple(rules)
        self.other = BodyRule("other", "/", default_max)
        self.body_timeout = body_timeout
        self.inflight_budget = inflight_budget
        self.inflight = 0  # bytes of bodies held now
        self.metrics = GuardMetrics.for_registry(registry)

    def rule_for(self, path: str) -> BodyRule:
        return next((rule for rule in self.rules if rule.matches(path)), self.other)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rule = self.rule_for(str(scope.get("path", "")))
        head = _Head.of(scope)
        if not head.has_body:
            await self._run(rule, scope, receive, send)
            return
        held = 0
        try:
            self._check_head(rule, head)
            body = await self._read(rule, receive)
            held = len(body)
            await self._run(rule, scope, _replay(body, receive), send)
        except _Refused as refused:
            await self._refuse(rule, refused, send)
        finally:
            self.inflight -= held

    def _check_head(self, rule: BodyRule, head: _Head) -> None:
        """Refuse on the headers alone: the endpoint is off, no bearer token, a declared length too big."""
        if rule.off is not None:
            raise _Refused(503, "off", rule.off)
        if rule.bearer is not None and not _bears(head.authorization, rule.bearer):
            raise _Refused(401, "unauthorized", "a valid bearer token is required", [(b"www-authenticate", b"Bearer")])
        if head.length is not None and head.length > rule.max_body:
            raise _Refused(413, "too_large", f"the body exceeds {rule.max_body} bytes")

    async def _read(self, rule: BodyRule, receive: Receive) -> bytes:
        """The whole body, counted against ``max_body`` and the in-flight budget as it arrives (and held in
        the budget when returned: the caller releases it)."""
        parts: list[bytes] = []
        try:
            async with asyncio.timeout(self.body_timeout):
                return await self._collect(rule, receive, parts)
        except TimeoutError:
            self.inflight -= sum(len(p) for p in parts)
            raise _Refused(408, "timeout", f"the body did not arrive within {self.body_timeout:g} s") from None
        except BaseException:
            self.inflight -= sum(len(p) for p in parts)
            raise

    async def _collect(self, rule: BodyRule, receive: Receive, parts: list[bytes]) -> bytes:
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Refused(0, "disconnected", "the client hung up before the end of the body")
            chunk = bytes(message.get("body", b""))
            size += len(chunk)
            if size > rule.max_body:
                raise _Refused(413, "too_large", f"the body exceeds {rule.max_body} bytes")
            self._hold(len(chunk))
            parts.append(chunk)
            if not message.get("more_body", False):
                return b"".join(parts)

    def _hold(self, size: int) -> None:
        if self.inflight + size > self.inflight_budget:
            raise _Refused(503, "busy", "too many request bodies are being read now", [(b"retry-after", b"1")])
        self.inflight += size

    async def _run(self, rule: BodyRule, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        except ClientDisconnect:
            self.metrics.count(rule.name, "disconnected")
            log.debug("%s %s: the client hung up", scope.get("method"), rule.name)

    async def _refuse(self, rule: BodyRule, refused: _Refused, send: Send) -> None:
        self.metrics.count(rule.name, refused.reason)
        log.debug("%s request refused (%s): %s", rule.name, refused.reason, refused.detail)
        if refused.status == 0:
            return
        body = json.dumps({"detail": refused.detail}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
            *refused.headers,
        ]
        await send({"type": "http.response.start", "status": refused.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _bears(authorization: bytes, token: str) -> bool:
    """Whether the ``Authorization`` header is ``Bearer <token>`` (scheme case-insensitive)."""
    scheme, _, given = authorization.partition(b" ")
    return scheme.lower() == b"bearer" and hmac.compare_digest(given, token.encode())


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands out ``body`` once, then waits on the real one (for the disconnect)."""
    pending = True

    async def replay() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
