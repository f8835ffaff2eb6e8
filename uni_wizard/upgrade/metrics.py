"""The upgrade queue's metrics, created once per registry.

``uniwizard_upgrades{state}`` is read from the store at scrape time; ``uniwizard_upgrade_transitions_total``
counts committed transitions by ``from_state`` and ``to_state`` (both bounded: the states).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ..errors import StoreError
from ..metricset import MetricSet
from .records import Transition, Upgrade, UpgradeStore

__all__ = ["UpgradeMetrics"]


class _StateCollector(Collector):
    def __init__(self) -> None:
        self.queues: weakref.WeakSet[UpgradeStore] = weakref.WeakSet()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("uniwizard_upgrades", "Upgrades in the queue, by state.", labels=["state"])
        for queue in list(self.queues)[:1]:  # one store per process: every queue reads the same rows
            try:
                counts = queue.counts()
            except StoreError:
                continue
            for state, count in counts.items():
                family.add_metric([state.value], count)
        yield family


class UpgradeMetrics(MetricSet):
    """The transitions counter and the by-state gauge of one registry (``UpgradeMetrics.for_registry``)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__(registry)
        self.transitions = Counter(
            "uniwizard_upgrade_transitions",
            "Upgrade state transitions committed, by from and to state (from_state 'none': a new proposal).",
            ["from_state", "to_state"],
            registry=registry,
        )
        self.states = _StateCollector()
        registry.register(self.states)

    def watch(self, queue: UpgradeStore) -> None:
        """Count ``queue``'s transitions and report its states at scrape time."""
        self.states.queues.add(queue)
        if self.count not in queue.listeners:
            queue.listeners.append(self.count)

    def count(self, upgrade: Upgrade, transition: Transition) -> None:
        self.transitions.labels(transition.from_state or "none", transition.to_state).inc()
