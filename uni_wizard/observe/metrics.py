"""The Harness's Prometheus metrics, created once per registry.

Labels are bounded: house, tool, mode, outcome, rule, group. Never arguments,
paths, issue numbers or error text.
"""

from __future__ import annotations

import logging
import platform
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from .._version import __version__
from ..metricset import MetricSet

__all__ = ["ApprovalsCollector", "BreakerCollector", "HarnessMetrics", "StuckCallsCollector"]

log = logging.getLogger(__name__)

DURATION_BUCKETS = (0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0)
BREAKER_STATES = {"closed": 0, "half-open": 1, "open": 2}


class HarnessMetrics(MetricSet):
    """``uniwizard_tool_calls_total``, ``uniwizard_tool_call_duration_seconds``,
    ``uniwizard_policy_denials_total`` and ``uniwizard_build_info`` on one registry
    (``HarnessMetrics.for_registry(registry)``)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__(registry)
        self.calls = Counter(
            "uniwizard_tool_calls",
            "Tool calls through the Harness, by outcome (the Result status).",
            ["house", "tool", "mode", "outcome"],
            registry=registry,
        )
        self.duration = Histogram(
            "uniwizard_tool_call_duration_seconds",
            "Wall time of tool calls through the Harness.",
            ["house", "tool"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.denials = Counter(
            "uniwizard_policy_denials",
            "Calls a house policy denied, by the rule that denied them.",
            ["house", "tool", "rule"],
            registry=registry,
        )
        build = Gauge(
            "uniwizard_build_info",
            "uni-wizard version and Python version (always 1).",
            ["version", "python"],
            registry=registry,
        )
        build.labels(__version__, platform.python_version()).set(1)
        self.breakers = BreakerCollector()
        registry.register(self.breakers)
        self.stuck = StuckCallsCollector()
        registry.register(self.stuck)
        self.approvals = ApprovalsCollector()
        registry.register(self.approvals)


class BreakerCollector(Collector):
    """``uniwizard_breaker_state{group}``: 0 closed, 1 half-open, 2 open, read from live breakers at scrape."""

    def __init__(self) -> None:
        self.boards: weakref.WeakSet[Any] = weakref.WeakSet()

    def add(self, board: Any) -> None:
        self.boards.add(board)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "uniwizard_breaker_state",
            "Circuit breaker state per tool group: 0 closed, 1 half-open, 2 open.",
            labels=["group"],
        )
        seen: set[str] = set()
        for board in self.boards:
            for group, state in board.states().items():
                if group not in seen:
                    seen.add(group)
                    family.add_metric([group], BREAKER_STATES.get(state, 2))
        yield family


class ApprovalsCollector(Collector):
    """``uniwizard_approvals_pending`` and ``uniwizard_approval_oldest_pending_seconds``: the sovereign-mode approval
    requests waiting for a decision, read at scrape from each source added (a callable answering the UNIX times
    at which the pending ones were requested; a source that fails is skipped: a scrape never fails on it)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.sources: list[weakref.WeakMethod[Any]] = []

    def add(self, source: Any) -> None:
        self.sources.append(weakref.WeakMethod(source))

    def collect(self) -> Iterator[GaugeMetricFamily]:
        times: list[float] = []
        for ref in list(self.sources):
            source = ref()
            if source is None:
                self.sources.remove(ref)
                continue
            try:
                times += source()
            except Exception as exc:  # a broken store must not break the scrape (/health says it is broken)
                log.debug("pending approvals not read for the metrics: %s", exc)
        now = self.clock()
        yield GaugeMetricFamily(
            "uniwizard_approvals_pending", "Sovereign-mode approval requests waiting for a decision.", value=len(times)
        )
        yield GaugeMetricFamily(
            "uniwizard_approval_oldest_pending_seconds",
            "How long the oldest approval request waiting for a decision has waited (0: none waits).",
            value=max((now - t for t in times), default=0.0),
        )


class StuckCallsCollector(Collector):
    """``uniwizard_tool_calls_stuck{house}``: blocking tool calls that timed out and have not returned,
    read from the Harness's thread pools at scrape (``harness/pools.py``)."""

    def __init__(self) -> None:
        self.pools: weakref.WeakSet[Any] = weakref.WeakSet()

    def add(self, pools: Any) -> None:
        self.pools.add(pools)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "uniwizard_tool_calls_stuck",
            "Blocking tool calls that timed out and whose thread has not returned yet, per house.",
            labels=["house"],
        )
        totals: dict[str, int] = {}
        for pools in self.pools:
            for house, count in pools.stuck().items():
                totals[house] = totals.get(house, 0) + count
        for house, count in sorted(totals.items()):
            family.add_metric([house], count)
        yield family
