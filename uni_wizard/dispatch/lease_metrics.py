"""The lease's Prometheus metrics, once per registry.

    metrics = LeaseMetrics.for_registry(runtime.metrics.registry)
    metrics.track(lease)                      # uniwizard_lease_held / _epoch{lease} read at scrape time
    metrics.transition(lease.name, "renewed")

``uniwizard_lease_held{lease}`` is 1 while the lease is held *and* safe to act under (its own clock says so),
``uniwizard_lease_epoch{lease}`` the epoch held or last held (0: never), and
``uniwizard_lease_transitions_total{lease,event}`` counts what happened to it. Labels are bounded: ``lease`` is
a configured lease name, ``event`` one of ``TRANSITIONS``.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from typing import Literal, Protocol, get_args

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ..metricset import MetricSet

__all__ = ["TRANSITIONS", "LeaseMetrics", "LeaseStateCollector", "Transition"]

Transition = Literal["acquired", "taken_over", "renewed", "renew_failed", "lost", "released"]
TRANSITIONS: tuple[Transition, ...] = get_args(Transition)
"""``acquired``: created or taken over (``taken_over`` counts the second kind again); ``renewed``;
``renew_failed``: a renewal that did not land (the lease may still be held); ``lost``: held no more, by lapse
or deposition; ``released``: given up on a graceful stop."""


class _Observed(Protocol):
    name: str

    @property
    def held(self) -> bool: ...

    @property
    def epoch(self) -> int: ...


class LeaseStateCollector(Collector):
    """``uniwizard_lease_held{lease}`` and ``uniwizard_lease_epoch{lease}``, read from the leases at scrape time
    (the last one tracked under a name wins)."""

    def __init__(self) -> None:
        self.leases: weakref.WeakValueDictionary[str, _Observed] = weakref.WeakValueDictionary()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        held = GaugeMetricFamily(
            "uniwizard_lease_held", "1 while this process holds the lease and may act under it.", labels=["lease"]
        )
        epoch = GaugeMetricFamily(
            "uniwizard_lease_epoch", "The epoch this process holds or last held (0: never).", labels=["lease"]
        )
        for name, lease in sorted(self.leases.items()):
            held.add_metric([name], 1.0 if lease.held else 0.0)
            epoch.add_metric([name], float(lease.epoch))
        yield held
        yield epoch


class LeaseMetrics(MetricSet):
    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__(registry)
        self.transitions = Counter(
            "uniwizard_lease_transitions",
            "What happened to a lease held or wanted by this process, by event.",
            ["lease", "event"],
            registry=registry,
        )
        self.state = LeaseStateCollector()
        registry.register(self.state)

    def track(self, lease: _Observed) -> None:
        """Report ``lease`` in the gauges, and show its transitions at 0 before the first one happens."""
        self.state.leases[lease.name] = lease
        for event in TRANSITIONS:
            self.transitions.labels(lease.name, event)

    def transition(self, lease: str, event: Transition) -> None:
        self.transitions.labels(lease, event).inc()
