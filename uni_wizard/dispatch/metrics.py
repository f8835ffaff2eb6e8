"""Allegro's Prometheus metrics: triage, routing, the sweep, and the issues by status, once per registry.

    metrics = DispatchMetrics.for_registry(runtime.metrics.registry)
    metrics.watch(runtime.store)                       # uniwizard_issues{status,house} at scrape time
    metrics.triage.labels("bug", "P1").inc()
    metrics.routing.labels(house or "none").inc()

Labels are bounded: ``kind`` comes from the triage vocabulary (``configs/triage.yaml``), ``priority`` is
P0..P3, ``house`` a configured house or ``none``, ``mode`` and ``action`` fixed sets. Never issue numbers,
titles or repositories. Only the fixed sets are pre-initialised.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Iterator
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ..errors import StoreError
from ..metricset import MetricSet
from ..store import Store


class WaitLine(Protocol):
    """What the gauges read of ``waiting.WaitLine``: per priority, how many wait and the oldest's age."""

    def summary(self) -> dict[str, tuple[int, float]]: ...


__all__ = [
    "SWEEP_ACTIONS",
    "SWEEP_MODES",
    "TRIAGE_LATENCY_BUCKETS",
    "DispatchMetrics",
    "IssueStatesCollector",
    "WaitingCollector",
    "house_label",
]

log = logging.getLogger(__name__)

SWEEP_MODES = ("incremental", "full")
SWEEP_ACTIONS = ("triage", "assign", "requeue", "relabel", "comment")
NO_HOUSE = "none"
# issue updated -> labelled: from a webhook-driven turn (tens of ms) to a missed webhook caught by a sweep
TRIAGE_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
SWEEP_DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)


def house_label(house: str | None) -> str:
    """The ``house`` label value: the house, or ``none`` when there is none."""
    return house or NO_HOUSE


class IssueStatesCollector(Collector):
    """``uniwizard_issues{status,house}``: the issues the dispatcher tracks, counted in ``issue_states`` at
    scrape time (a house of NULL or "" is ``none``); several stores (one per path) are summed."""

    def __init__(self, store: Store | None = None) -> None:
        self.stores: weakref.WeakSet[Store] = weakref.WeakSet()
        if store is not None:
            self.add(store)

    def add(self, store: Store) -> None:
        self.stores.add(store)

    def describe(self) -> Iterator[GaugeMetricFamily]:
        """The family without samples: registering must not read the store."""
        yield self._family()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        counts: dict[tuple[str, str], int] = {}
        seen: set[str] = set()
        for store in list(self.stores):
            path = str(store.path.resolve())
            if path in seen:
                continue
            seen.add(path)
            try:
                rows = store.query(
                    "SELECT status, coalesce(nullif(house, ''), ?) AS house, count(*) AS n "
                    "FROM issue_states GROUP BY 1, 2",
                    (NO_HOUSE,),
                )
            except StoreError as exc:  # a scrape reports what it can; /health reports the store
                log.warning("cannot count the issues by status: %s", exc)
                continue
            for row in rows:
                key = (str(row["status"]), str(row["house"]))
                counts[key] = counts.get(key, 0) + int(row["n"])
        family = self._family()
        for (status, house), count in sorted(counts.items()):
            family.add_metric([status, house], count)
        yield family

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "uniwizard_issues",
            "Issues the dispatcher tracks, by status and house ('none' when unassigned).",
            labels=["status", "house"],
        )


class WaitingCollector(Collector):
    """``uniwizard_dispatch_waiting_issues{priority}`` and ``uniwizard_dispatch_oldest_waiting_seconds{priority}``:
    the waiting line (``waiting.py``) at scrape time, P0..P3 and ``unknown`` always present; several lines (one
    per dispatcher of the registry) are summed, the oldest the oldest of all."""

    PRIORITIES = ("P0", "P1", "P2", "P3", "unknown")

    def __init__(self) -> None:
        self.lines: weakref.WeakSet[WaitLine] = weakref.WeakSet()

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield from self._families()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        counts = dict.fromkeys(self.PRIORITIES, 0)
        oldest = dict.fromkeys(self.PRIORITIES, 0.0)
        for line in list(self.lines):
            for priority, (count, seconds) in line.summary().items():
                counts[priority] = counts.get(priority, 0) + count
                oldest[priority] = max(oldest.get(priority, 0.0), seconds)
        waiting, age = self._families()
        for priority in self.PRIORITIES:
            waiting.add_metric([priority], counts[priority])
            age.add_metric([priority], round(oldest[priority], 3))
        yield waiting
        yield age

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
        waiting = GaugeMetricFamily(
            "uniwizard_dispatch_waiting_issues",
            "Issues triaged but waiting for a house (status/triage), by priority ('unknown': no valid label).",
            labels=["priority"],
        )
        age = GaugeMetricFamily(
            "uniwizard_dispatch_oldest_waiting_seconds",
            "Age (since it was created) of the oldest waiting issue, by priority; 0 when none waits.",
            labels=["priority"],
        )
        return waiting, age


class DispatchMetrics(MetricSet):
    """The dispatcher's counters and histograms and the issue-state collector, created once per registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__(registry)
        self.triage = Counter(
            "uniwizard_triage",
            "Issues triaged, by the kind and priority triage gave them.",
            ["kind", "priority"],
            registry=registry,
        )
        self.triage_latency = Histogram(
            "uniwizard_triage_latency_seconds",
            "Time from an issue's last update to its triage labels being written.",
            buckets=TRIAGE_LATENCY_BUCKETS,
            registry=registry,
        )
        self.routing = Counter(
            "uniwizard_routing_decisions",
            "Routing decisions, by the house chosen ('none' when no house was eligible).",
            ["house"],
            registry=registry,
        )
        self.sweep_duration = Histogram(
            "uniwizard_sweep_duration_seconds",
            "Wall time of a sweep of one repository, by mode (incremental or full).",
            ["mode"],
            buckets=SWEEP_DURATION_BUCKETS,
            registry=registry,
        )
        self.sweep_repairs = Counter(
            "uniwizard_sweep_repairs",
            "Repairs the dispatcher applied to issues, by action.",
            ["action"],
            registry=registry,
        )
        for mode in SWEEP_MODES:
            self.sweep_duration.labels(mode)
        for action in SWEEP_ACTIONS:
            self.sweep_repairs.labels(action)
        self.routing.labels(NO_HOUSE)
        self.issues = IssueStatesCollector()
        registry.register(self.issues)
        self.waiting = WaitingCollector()
        registry.register(self.waiting)

    def watch(self, store: Store) -> IssueStatesCollector:
        """Count ``store``'s ``issue_states`` into ``uniwizard_issues`` at each scrape (idempotent)."""
        self.issues.add(store)
        return self.issues

    def watch_line(self, line: WaitLine) -> None:
        """Show ``line`` in the waiting gauges at each scrape (idempotent)."""
        self.waiting.lines.add(line)

    def routed(self, house: str | None) -> None:
        """Count one routing decision (``house`` None or "": nobody was eligible)."""
        self.routing.labels(house_label(house)).inc()
