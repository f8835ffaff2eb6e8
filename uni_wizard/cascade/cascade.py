"""``Cascade``: the providers in order, with honest failover, streaming, status and readiness.

    cascade = Cascade.from_config(load_cascade_config(None), registry=runtime.metrics.registry)
    answer = await cascade.complete([Message("user", "Say hi")])
    async with cascade.stream([Message("user", "Count to 5")]) as stream:
        async for text in stream:
            print(text, end="")
    print(stream.completion.provider)

Failover: a provider that is unavailable (after its retries) or whose breaker is open → the next
provider; a context-length error → the next model (on any later provider, or a later model of the same
one) with a larger context (when every model tried refused for length, ``ContextLengthExceeded``, not
``CascadeExhausted``: waiting will not help); a model that is not there (404, not pulled) → the next model; any other
refusal (400/401/403/422) is raised at once: the same request would fail the same way elsewhere.
A stream commits to a provider at its first token; a failure after it returns what arrived with
``incomplete=True``, never spliced from another model.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
from prometheus_client import CollectorRegistry

from ..config import read_secret_file
from ..errors import (
    CascadeExhausted,
    ConfigError,
    ContextLengthExceeded,
    ModelError,
    ModelNotFound,
    ProviderRejected,
    ProviderUnavailable,
)
from .config import CascadeConfig, HealthSettings, ModelSpec, ProviderConfig
from .metrics import CascadeMetrics
from .policy import decide_model, decide_provider
from .provider import Answer, ChatRequest, Provider, outcome_of
from .types import Completion, Message, ToolSchema, Usage
from .wire import Delta, Finish

__all__ = ["Cascade", "CascadeStream", "Target", "UsageListener"]

log = logging.getLogger(__name__)

UsageListener = Callable[[str, str, int, int], None]  # provider, model, input tokens, output tokens


@dataclass(frozen=True)
class Target:
    """One (provider, model) the cascade may try, in order."""

    provider: Provider
    model: ModelSpec


class Cascade:
    """The model cascade; satisfies ``CompletionClient``. Build it with ``from_config``."""

    def __init__(
        self,
        providers: Sequence[Provider],
        targets: Sequence[Target],
        *,
        metrics: CascadeMetrics,
        health: HealthSettings,
        required: bool = False,
        denied: Sequence[Mapping[str, Any]] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.providers, self.targets = tuple(providers), tuple(targets)
        self.metrics, self.health, self.required = metrics, health, required
        self._denied = [dict(d) for d in denied]
        self._clock = clock
        self.listeners: list[UsageListener] = []  # each answer's (provider, model, input, output tokens)
        metrics.prepare([(t.provider.name, t.model.name) for t in self.targets], [p.name for p in self.providers])

    @classmethod
    def from_config(
        cls,
        config: CascadeConfig,
        *,
        registry: CollectorRegistry,
        secrets_env: Mapping[str, str] = os.environ,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rand: Callable[[], float] = random.random,
    ) -> Cascade:
        """The cascade a configuration describes, under its policy. API keys are read here (from
        ``secrets_env`` or the key file) for allowed providers only; a missing one is a ``ConfigError``."""
        metrics = CascadeMetrics.for_registry(registry)
        providers: list[Provider] = []
        targets: list[Target] = []
        denied: list[dict[str, Any]] = []
        for index, spec in enumerate(config.providers):
            verdict = decide_provider(config.policy, spec)
            if not verdict.allowed:
                denied.append(_describe(spec) | {"allowed": False, "denied": verdict.reason})
                log.warning("cascade: provider %s not used: %s", spec.name, verdict.reason)
                continue
            key = _api_key(spec, index, config.source, secrets_env)
            provider = Provider(
                spec,
                metrics=metrics,
                health=config.health,
                api_key=key,
                transport=transport,
                clock=clock,
                sleep=sleep,
                rand=rand,
            )
            providers.append(provider)
            for model in spec.models:
                model_verdict = decide_model(config.policy, spec, model.name)
                if model_verdict.allowed:
                    targets.append(Target(provider, model))
                else:
                    log.warning("cascade: model %s on %s not used: %s", model.name, spec.name, model_verdict.reason)
        return cls(
            providers,
            targets,
            metrics=metrics,
            health=config.health,
            required=config.required,
            denied=denied,
            clock=clock,
        )

    # --- answers ---------------------------------------------------------------------------------

    async def complete(
        self, messages: Sequence[Message], tools: Sequence[ToolSchema] | None = None, stream: bool = False
    ) -> Completion:
        """One answer from the first provider able to give it. ``stream=True`` streams from the provider
        (first-token timeout, transparent failover before the first token) and collects the stream."""
        async with CascadeStream(self, ChatRequest(tuple(messages), tools, stream)) as answer:
            async for _ in answer:
                pass
        return answer.completion

    def stream(self, messages: Sequence[Message], tools: Sequence[ToolSchema] | None = None) -> CascadeStream:
        """The answer's text as it arrives (``async with ... as s: async for text in s``), then
        ``s.completion``."""
        return CascadeStream(self, ChatRequest(tuple(messages), tools, True))

    async def open(self, request: ChatRequest) -> tuple[Answer, tuple[tuple[str, str, str], ...]]:
        """Walk the targets until one starts answering; returns it and the fallbacks taken."""
        fallbacks: list[tuple[str, str, str]] = []
        attempts: list[tuple[str, str, str]] = []
        failures: list[ModelError] = []
        down: set[str] = set()
        needs_context = 0
        previous: tuple[str, str] | None = None
        for target in self.targets:
            name = target.provider.name
            if name in down or target.model.context <= needs_context:
                continue
            if previous is not None:
                fallbacks.append((previous[0], name, previous[1]))
                self.metrics.fallbacks.labels(previous[0], name, previous[1]).inc()
                log.warning("cascade: %s failed (%s); trying %s", previous[0], previous[1], name)
            try:
                return await target.provider.open(target.model.name, request), tuple(fallbacks)
            except (ProviderUnavailable, ModelNotFound, ContextLengthExceeded) as exc:
                reason = outcome_of(exc)
                attempts.append((name, target.model.name, f"{reason}: {exc}"))
                failures.append(exc)
                if isinstance(exc, ProviderUnavailable):
                    down.add(name)
                elif isinstance(exc, ContextLengthExceeded):
                    needs_context = target.model.context
                previous = (name, reason)
            except ProviderRejected:
                raise
        self.metrics.exhausted.inc()
        if not self.targets:
            raise CascadeExhausted("no model provider is configured and allowed by the cascade policy")
        summary = "; ".join(f"{p} ({m}): {why}" for p, m, why in attempts) or "no model was large enough"
        if failures and all(isinstance(failure, ContextLengthExceeded) for failure in failures):
            # nothing was merely down: the prompt fits no allowed model, and retrying later will not help
            raise ContextLengthExceeded(f"the prompt fits no allowed model: {summary}")
        raise CascadeExhausted(f"every provider failed: {summary}", attempts=tuple(attempts))

    # --- health, status, readiness ---------------------------------------------------------------

    async def probe_once(self) -> dict[str, bool]:
        """Probe every provider once, concurrently; their reachability by name."""
        results = await asyncio.gather(*(p.probe() for p in self.providers))
        return {p.name: ok for p, ok in zip(self.providers, results, strict=True)}

    async def run_health_probes(self, stop: asyncio.Event | None = None) -> None:
        """The background probe: every ``health.interval_seconds`` until ``stop`` is set (or cancelled)."""
        stop = stop or asyncio.Event()
        while not stop.is_set():
            await self.probe_once()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.health.interval_seconds)

    def status(self) -> dict[str, Any]:
        """Every configured provider: kind, URL, policy verdict, models, breaker, last error, p50 latency.
        Never an API key (only where it is read from)."""
        allowed: dict[str, list[str]] = {}
        for target in self.targets:
            allowed.setdefault(target.provider.name, []).append(target.model.name)
        rows = []
        for provider in self.providers:
            row = _describe(provider.config) | {
                "allowed": True,
                "breaker": provider.breaker.state,
                "failures": provider.breaker.failures,
                "last_error": provider.last_error or None,
                "last_error_at": _iso(provider.last_error_at),
                "p50_latency_seconds": provider.p50_latency(),
                "reachable": provider.reachable,
                "last_probe_at": _iso(provider.last_probe_at),
            }
            for model in row["models"]:
                model["allowed"] = model["name"] in allowed.get(provider.name, ())
                if provider.config.kind == "ollama" and provider.listed_models is not None:
                    model["present"] = provider.has_model(model["name"])
            rows.append(row)
        order = [p.name for p in self.providers] + [d["name"] for d in self._denied]
        everything = {r["name"]: r for r in rows} | {d["name"]: d for d in self._denied}
        return {"required": self.required, "providers": [everything[name] for name in order]}

    def readiness(self) -> dict[str, Any]:
        """For ``/ready``: always ready unless the configuration says ``required: true``; then ready while
        at least one allowed provider is usable (breaker not open, last probe not failed)."""
        usable = [p.name for p in self.providers if p.usable() and any(t.provider is p for t in self.targets)]
        states = {p.name: {"breaker": p.breaker.state, "reachable": p.reachable} for p in self.providers}
        return {
            "ready": bool(usable) or not self.required,
            "required": self.required,
            "usable": usable,
            "providers": states,
        }

    async def aclose(self) -> None:
        await asyncio.gather(*(p.aclose() for p in self.providers))


class CascadeStream:
    """An answer under way: iterate it for text pieces; ``completion`` once it is done."""

    def __init__(self, cascade: Cascade, request: ChatRequest) -> None:
        self._cascade, self._request = cascade, request
        self._answer: Answer | None = None
        self._completion: Completion | None = None

    async def __aenter__(self) -> CascadeStream:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._answer is not None:
            await self._answer.aclose()

    @property
    def completion(self) -> Completion:
        if self._completion is None:
            raise RuntimeError("the stream has not been read to its end")
        return self._completion

    async def __aiter__(self) -> AsyncIterator[str]:
        if self._answer is not None:
            raise RuntimeError("a CascadeStream is read once")
        started = self._cascade._clock()
        self._answer, fallbacks = await self._cascade.open(self._request)
        provider, model = self._answer.provider.name, self._answer.model
        texts: list[str] = []
        finish = Finish()
        error = ""
        try:
            async for piece in self._answer.pieces():
                if isinstance(piece, Finish):
                    finish = piece
                elif isinstance(piece, Delta) and piece.text:
                    texts.append(piece.text)
                    yield piece.text
        except ModelError as exc:  # after the first piece: what arrived is the answer, marked incomplete
            error = str(exc)
            log.warning("cascade: %s broke off its answer: %s", provider, exc)
        metrics = self._cascade.metrics
        metrics.tokens.labels(provider, model, "input").inc(finish.usage.input_tokens)
        metrics.tokens.labels(provider, model, "output").inc(finish.usage.output_tokens)
        for listener in self._cascade.listeners:  # the ledger's token spend (dispatch/spend.py), set by assembly
            listener(provider, model, finish.usage.input_tokens, finish.usage.output_tokens)
        self._completion = Completion(
            content="".join(texts),
            provider=provider,
            model=model,
            tool_calls=() if error else finish.tool_calls,
            usage=finish.usage if not error else Usage(),
            latency=self._cascade._clock() - started,
            fallbacks=fallbacks,
            incomplete=bool(error),
            finish_reason=finish.finish_reason,
            error=error,
        )


def _describe(spec: ProviderConfig) -> dict[str, Any]:
    key_from = (
        f"env {spec.api_key_env}" if spec.api_key_env else (f"file {spec.api_key_file}" if spec.api_key_file else None)
    )
    return {
        "name": spec.name,
        "kind": spec.kind,
        "url": spec.url,
        "locality": spec.locality,
        "api_key_from": key_from,
        "models": [{"name": m.name, "context": m.context} for m in spec.models],
    }


def _iso(stamp: float | None) -> str | None:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp)) if stamp is not None else None


def _api_key(spec: ProviderConfig, index: int, source: str, env: Mapping[str, str]) -> str | None:
    if spec.api_key_env:
        value = env.get(spec.api_key_env, "").strip()
        if not value:
            raise ConfigError(
                f"environment variable {spec.api_key_env} is not set or empty",
                source=source or None,
                key=f"providers.{index}.api_key_env",
            )
        return value
    if spec.api_key_file:  # unreadable, not UTF-8, empty: ConfigError; readable by all: a warning
        return read_secret_file(Path(spec.api_key_file), source=source or None, key=f"providers.{index}.api_key_file")
    return None
