"""One model provider: its HTTP client, breaker, retries, timeouts, health probe and what it last did.

The layers of one request, outside in (CASCADE_FACTS §3): tenacity retries (transient errors only,
never a breaker refusal) → the single-probe guard → ``with breaker.calling():`` → per-read deadlines
(first token, total) → httpx (connect timeout). An attempt is an async generator that yields the answer's
pieces; ``open()`` returns once the first piece has arrived, so everything before it can be retried and
failed over, and the breaker judges the attempt when the stream ends.
"""

from __future__ import annotations

import asyncio
import logging
import random
import statistics
import time
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import pybreaker
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from ..errors import (
    ContextLengthExceeded,
    ModelError,
    ModelNotFound,
    ProviderBreakerOpen,
    ProviderMalformed,
    ProviderServerError,
    ProviderTimeout,
    ProviderUnavailable,
)
from .breaker import ProviderBreaker
from .config import HealthSettings, ProviderConfig
from .metrics import CascadeMetrics
from .ollama import OllamaProtocol
from .openai_compat import OpenAIProtocol
from .types import Message, ToolSchema
from .wire import Delta, Finish, WireProtocol, error_for_status

__all__ = ["Answer", "ChatRequest", "Provider", "outcome_of"]

log = logging.getLogger(__name__)

NOT_RETRIED = (ProviderServerError, ProviderMalformed, ProviderBreakerOpen)
"""Kinds of ``ProviderUnavailable`` that go straight to the next provider; the others (a plain one, a timeout,
429) are retried first. Never a breaker refusal: retrying it would only be refused again."""
LATENCY_WINDOW = 50
Piece = Delta | Finish


@dataclass(frozen=True)
class ChatRequest:
    messages: Sequence[Message]
    tools: Sequence[ToolSchema] | None = None
    stream: bool = False


def outcome_of(exc: BaseException) -> str:
    """The metric outcome (and fallback reason) of a failure."""
    if isinstance(exc, ProviderUnavailable):
        return exc.reason
    if isinstance(exc, ContextLengthExceeded):
        return "context_length"
    if isinstance(exc, ModelNotFound):
        return "model_not_found"
    return "rejected"


class Answer:
    """An answer under way: its first piece has arrived; ``pieces()`` yields it and the rest."""

    def __init__(self, provider: Provider, model: str, first: Piece, rest: AsyncGenerator[Piece, None]) -> None:
        self.provider, self.model, self.first, self._rest = provider, model, first, rest

    async def pieces(self) -> AsyncIterator[Piece]:
        yield self.first
        async for piece in self._rest:
            yield piece

    async def aclose(self) -> None:
        await self._rest.aclose()


class Provider:
    """A provider of the cascade. ``transport`` replaces httpx's network transport (tests, benchmarks);
    ``sleep`` and ``rand`` drive the retry back-off; ``clock`` (monotonic seconds) measures latency."""

    def __init__(
        self,
        config: ProviderConfig,
        *,
        metrics: CascadeMetrics,
        health: HealthSettings,
        api_key: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.config, self.name, self.metrics, self.health = config, config.name, metrics, health
        self.protocol: WireProtocol = OllamaProtocol() if config.kind == "ollama" else OpenAIProtocol()
        self._api_key = api_key
        self._clock, self._sleep, self._rand = clock, sleep, rand
        t = config.timeouts
        self._client = httpx.AsyncClient(
            base_url=config.url,
            timeout=httpx.Timeout(t.total_seconds, connect=t.connect_seconds, read=None, pool=t.connect_seconds),
            headers={"Authorization": f"Bearer {api_key}"} if api_key else None,
            transport=transport,
            trust_env=config.cloud,  # a local provider is never reached through a proxy
        )
        self.breaker = ProviderBreaker(config.name, config.breaker, metrics)
        self.latencies: deque[float] = deque(maxlen=LATENCY_WINDOW)
        self.last_error = ""
        self.last_error_at: float | None = None
        self.reachable: bool | None = None
        self.last_probe_at: float | None = None
        self.listed_models: frozenset[str] | None = None

    def __repr__(self) -> str:
        return f"Provider({self.name!r}, {self.config.kind}, {self.config.url})"

    # --- a request -------------------------------------------------------------------------------

    async def open(self, model: str, request: ChatRequest) -> Answer:
        """Send ``request`` to ``model``, retrying transient failures before the first token; returns once
        the first piece arrived. Raises ``ProviderUnavailable`` (its class says why) or ``ProviderRejected``."""
        if self.config.kind == "ollama" and self.listed_models is not None and not self.has_model(model):
            self.metrics.requests.labels(self.name, model, "model_not_found").inc()
            raise ModelNotFound(
                f"{self.name}: model {model!r} is not pulled (not in /api/tags)", provider=self.name, model=model
            )
        retrying = AsyncRetrying(
            retry=retry_if_exception(self._retryable),  # never a breaker refusal (ProviderBreakerOpen)
            stop=stop_after_attempt(self.config.retry.attempts),
            wait=self._wait,
            sleep=self._sleep,
            before_sleep=self._count_retry,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                rest = self._attempt(model, request)
                first = await anext(rest)
                return Answer(self, model, first, rest)
        raise AssertionError("tenacity ends with a result or the last error")  # pragma: no cover

    def has_model(self, model: str) -> bool:
        names = self.listed_models or frozenset()
        return model in names or f"{model}:latest" in names

    def _retryable(self, exc: BaseException) -> bool:
        if not isinstance(exc, ProviderUnavailable) or isinstance(exc, NOT_RETRIED):
            return False
        return exc.retry_after is None or exc.retry_after <= self.config.retry.max_delay_seconds

    def _wait(self, state: RetryCallState) -> float:
        settings = self.config.retry
        backoff = settings.backoff_seconds * (2.0 ** (state.attempt_number - 1) + self._rand())
        delay = min(settings.max_delay_seconds, backoff)
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, ProviderUnavailable) and exc.retry_after is not None:
            delay = max(delay, exc.retry_after)  # honoured: _retryable refused a longer one
        return delay

    def _count_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        reason = exc.reason if isinstance(exc, ProviderUnavailable) else "unavailable"
        self.metrics.retries.labels(self.name, reason).inc()
        log.info("cascade: %s attempt %d failed (%s); retrying", self.name, state.attempt_number, exc)

    async def _attempt(self, model: str, request: ChatRequest) -> AsyncGenerator[Piece, None]:
        trial = self.breaker.admit(model)
        started = self._clock()
        outcome = "success"
        try:
            try:
                with self.breaker.breaker.calling():
                    first = True
                    async for piece in self._exchange(model, request):
                        if first:
                            first = False
                            self.metrics.ttft.labels(self.name, model).observe(self._clock() - started)
                        yield piece
            except pybreaker.CircuitBreakerError as exc:
                raise self.breaker.refused(exc, model) from exc
        except asyncio.CancelledError:
            outcome = "cancelled"
            if trial:
                self.breaker.trial_cancelled()
            raise
        except ModelError as exc:
            self._scrub(exc)
            tripped = exc.__cause__.__context__ if isinstance(exc.__cause__, pybreaker.CircuitBreakerError) else None
            judged = tripped if isinstance(tripped, ModelError) else exc  # the failure that tripped it, if one did
            outcome = outcome_of(judged)
            self._failed(model, exc, self._clock() - started, judged)
            raise
        finally:
            self.breaker.done(trial)
            if outcome == "success":
                elapsed = self._clock() - started
                self.latencies.append(elapsed)
                self.metrics.duration.labels(self.name, model).observe(elapsed)
                self.metrics.requests.labels(self.name, model, "success").inc()
            elif outcome == "cancelled":
                self.metrics.requests.labels(self.name, model, "cancelled").inc()

    def _failed(self, model: str, exc: ModelError, elapsed: float, judged: ModelError) -> None:
        """Count ``exc`` under the outcome of ``judged`` (the failure that tripped the breaker, or ``exc``); a
        refusal of the open breaker took no time at the provider and says nothing new about it."""
        self.metrics.requests.labels(self.name, model, outcome_of(judged)).inc()
        if not isinstance(judged, ProviderBreakerOpen):
            self.metrics.duration.labels(self.name, model).observe(elapsed)
            self.last_error, self.last_error_at = str(exc), time.time()

    def _scrub(self, exc: BaseException) -> None:
        """Never let the API key out, even when a provider echoes it in an error."""
        if self._api_key and self._api_key in str(exc):
            exc.args = tuple(str(a).replace(self._api_key, "[redacted]") for a in exc.args)

    async def _exchange(self, model: str, request: ChatRequest) -> AsyncGenerator[Piece, None]:
        loop = asyncio.get_running_loop()
        total = loop.time() + self.config.timeouts.total_seconds
        first = min(total, loop.time() + self.config.timeouts.first_token_seconds) if request.stream else total
        body = self.protocol.request_body(model, request.messages, request.tools, request.stream)
        response = await self._send(model, body, first)
        try:
            if response.status_code >= 400:
                raw = await self._read(model, response, total)
                message, codes = self.protocol.error_details(raw)
                raise error_for_status(response.status_code, message, codes, response.headers, self.name, model)
            if not request.stream:
                deltas, finish = self.protocol.parse_body(await self._read(model, response, total), self.name, model)
                for delta in deltas:
                    yield delta
                yield finish
                return
            parser = self.protocol.stream_parser(self.name, model)
            lines = response.aiter_lines()
            started = False
            while not parser.done:
                line = await self._next_line(model, lines, total if started else first, started)
                if line is None:
                    raise self._unavailable(model, "ended the stream before its end marker")
                for delta in parser.feed(line):
                    started = True
                    yield delta
            yield parser.finish()
        finally:
            await response.aclose()

    def _unavailable(
        self, model: str, what: str, kind: type[ProviderUnavailable] = ProviderUnavailable
    ) -> ProviderUnavailable:
        return kind(f"{self.name} ({model}) {what}", provider=self.name, model=model)

    async def _send(self, model: str, body: dict[str, Any], deadline: float) -> httpx.Response:
        request = self._client.build_request("POST", self.protocol.chat_path, json=body)
        try:
            async with asyncio.timeout_at(deadline):
                return await self._client.send(request, stream=True)
        except TimeoutError:
            raise self._unavailable(
                model, "sent no answer in time (first token / total timeout)", ProviderTimeout
            ) from None
        except httpx.TimeoutException as exc:
            raise self._unavailable(model, f"timed out connecting: {type(exc).__name__}", ProviderTimeout) from None
        except httpx.TransportError as exc:
            raise self._unavailable(model, f"cannot be reached: {type(exc).__name__}: {exc}") from None

    async def _read(self, model: str, response: httpx.Response, deadline: float) -> bytes:
        try:
            async with asyncio.timeout_at(deadline):
                return await response.aread()
        except TimeoutError:
            raise self._unavailable(
                model, "did not finish its answer within the total timeout", ProviderTimeout
            ) from None
        except httpx.TransportError as exc:
            raise self._unavailable(model, f"broke off its answer: {type(exc).__name__}") from None

    async def _next_line(self, model: str, lines: AsyncIterator[str], deadline: float, started: bool) -> str | None:
        try:
            async with asyncio.timeout_at(deadline):
                return await anext(lines)
        except StopAsyncIteration:
            return None
        except TimeoutError:
            which = "total" if started else "first token"
            raise self._unavailable(model, f"ran past its {which} timeout", ProviderTimeout) from None
        except httpx.TransportError as exc:
            raise self._unavailable(model, f"broke off its stream: {type(exc).__name__}") from None

    # --- health and status -----------------------------------------------------------------------

    async def probe(self) -> bool:
        """Ask the provider's model list (Ollama /api/tags, OpenAI /v1/models). A provider that answers
        re-admits its open breaker (half-open); Ollama's list also tells which models are pulled."""
        ok, models = False, None
        try:
            async with asyncio.timeout(self.health.timeout_seconds):
                response = await self._client.get(self.protocol.health_path)
            if response.status_code == 200:
                models, ok = self.protocol.health_models(response.content), True
        except (httpx.HTTPError, TimeoutError, ModelError):
            ok = False
        self.reachable, self.last_probe_at = ok, time.time()
        if ok:
            self.listed_models = models
            if self.breaker.readmit():
                log.info("cascade: %s answers its health probe again: breaker half-open", self.name)
        return ok

    def p50_latency(self) -> float | None:
        return statistics.median(self.latencies) if self.latencies else None

    def usable(self) -> bool:
        """Worth a request now: its breaker is not open and its last probe (if any) succeeded."""
        return self.breaker.state != pybreaker.STATE_OPEN and self.reachable is not False

    async def aclose(self) -> None:
        await self._client.aclose()
