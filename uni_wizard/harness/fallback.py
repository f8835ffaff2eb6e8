"""INTELLIGENT mode's graceful degradation: when the store is unavailable or slow, calls run SIMPLE-style.

A call that finds the store refusing its record (read-only, locked past its busy timeout, gone) or taking
longer than ``slow_after`` seconds to commit it marks INTELLIGENT degraded: the call itself still returns
its outcome (SIMPLE-style: no record, no learning), and so do the INTELLIGENT calls that follow, without
touching the store. Every ``retry_after`` seconds one call tries the store again; the first that commits
normally ends the degradation and logs two events, ``intelligence.degraded`` (since when and why) and
``intelligence.recovered`` (how many calls ran SIMPLE-style), since the store could take neither before.
``uniwizard_intelligence_degraded`` is 1 meanwhile; ``uniwizard_intelligence_fallback_calls_total`` counts
the calls that ran SIMPLE-style. SOVEREIGN calls never degrade: they need their record.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge

from ..errors import StoreError
from ..metricset import MetricSet
from ..observe.events import EventLog
from ..store import Store, utc_now

__all__ = ["Fallback", "IntelligenceMetrics"]

log = logging.getLogger(__name__)


class IntelligenceMetrics(MetricSet):
    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__(registry)
        self.degraded = Gauge(
            "uniwizard_intelligence_degraded",
            "1 while INTELLIGENT calls run SIMPLE-style because the store is unavailable or slow.",
            registry=registry,
        )
        self.degradations = Counter(
            "uniwizard_intelligence_degradations", "Times INTELLIGENT mode fell back to SIMPLE.", registry=registry
        )
        self.fallback_calls = Counter(
            "uniwizard_intelligence_fallback_calls",
            "INTELLIGENT calls that ran SIMPLE-style (no record, no learning) while degraded.",
            ["house"],
            registry=registry,
        )
        self.likely_failures = Counter(
            "uniwizard_predicted_failures",
            "Calls run although predicted to fail with high confidence.",
            ["house", "tool"],
            registry=registry,
        )


@dataclass
class _Degradation:
    since: str
    reason: str
    calls: int = 0


class Fallback:
    """The degradation state of one process's INTELLIGENT calls (shared by its Harnesses)."""

    def __init__(
        self,
        store: Callable[[], Store],
        host: str,
        *,
        metrics_registry: CollectorRegistry = REGISTRY,
        slow_after: float = 2.0,
        retry_after: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store, self.host = store, host
        self.metrics = IntelligenceMetrics.for_registry(metrics_registry)
        self.slow_after, self.retry_after, self.clock = slow_after, retry_after, clock
        self._lock = threading.Lock()
        self._current: _Degradation | None = None
        self._next_try = 0.0

    @property
    def degraded(self) -> bool:
        return self._current is not None

    def use_store(self, house: str) -> bool:
        """Whether the next INTELLIGENT call may use the store: always when healthy; when degraded, one call
        every ``retry_after`` seconds (the others are counted as run SIMPLE-style)."""
        with self._lock:
            if self._current is None:
                return True
            now = self.clock()
            if now >= self._next_try:
                self._next_try = now + self.retry_after
                return True
            self._current.calls += 1
        self.metrics.fallback_calls.labels(house).inc()
        return False

    def failed(self, house: str, reason: str) -> None:
        """The store failed (or was too slow for) an INTELLIGENT call, which returns SIMPLE-style."""
        with self._lock:
            first = self._current is None
            if first:
                self._current = _Degradation(utc_now(), reason[:500])
            assert self._current is not None
            self._current.calls += 1
            self._next_try = self.clock() + self.retry_after
        self.metrics.fallback_calls.labels(house).inc()
        if first:
            self.metrics.degraded.set(1)
            self.metrics.degradations.inc()
            log.warning("INTELLIGENT calls run SIMPLE-style until the store recovers: %s", reason)

    async def settled(self, house: str, seconds: float) -> None:
        """An INTELLIGENT call's record committed in ``seconds``: too slow degrades; otherwise a degradation
        in course ends (its two events are logged, best effort)."""
        if seconds > self.slow_after:
            self.failed(
                house, f"the store took {seconds:.2f} s to commit a call's record (limit {self.slow_after:g} s)"
            )
            return
        with self._lock:
            ended, self._current = self._current, None
        if ended is None:
            return
        self.metrics.degraded.set(0)
        log.warning("the store recovered: INTELLIGENT calls use it again (%d ran SIMPLE-style)", ended.calls)
        events = EventLog(self._store(), self.host)
        key = f"intelligence:{self.host}:{ended.since}"
        data = {"since": ended.since, "reason": ended.reason}
        try:
            await events.emit("intelligence.degraded", f"{key}:degraded", data=data)
            await events.emit(
                "intelligence.recovered",
                f"{key}:recovered",
                data={**data, "until": utc_now(), "simple_calls": ended.calls},
            )
        except StoreError as exc:  # the events are a report; the calls go on without them
            log.warning("could not log the degradation's events: %s", exc)
