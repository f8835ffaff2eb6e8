"""The forge client's Prometheus metrics, created once per registry.

Labels are bounded: ``method``, ``route`` (the path *template*, such as
``/repos/{owner}/{repo}/issues/{index}``, never the concrete path) and
``status`` (the numeric code, or ``error`` when no answer came back).
"""

from __future__ import annotations

import weakref

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram

__all__ = ["ForgeMetrics"]

DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

_by_registry: weakref.WeakKeyDictionary[CollectorRegistry, ForgeMetrics] = weakref.WeakKeyDictionary()


class ForgeMetrics:
    """``uniwizard_forge_requests_total{method,route,status}`` and
    ``uniwizard_forge_request_duration_seconds{method,route}`` on one registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.requests = Counter(
            "uniwizard_forge_requests",
            "HTTP requests to the forge API, by route template and status ('error': no answer).",
            ["method", "route", "status"],
            registry=registry,
        )
        self.duration = Histogram(
            "uniwizard_forge_request_duration_seconds",
            "Wall time of HTTP requests to the forge API, answered or not.",
            ["method", "route"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )

    @classmethod
    def for_registry(cls, registry: CollectorRegistry | None = None) -> ForgeMetrics:
        """The one ``ForgeMetrics`` of ``registry`` (the process default when None)."""
        registry = REGISTRY if registry is None else registry
        metrics = _by_registry.get(registry)
        if metrics is None:
            metrics = _by_registry[registry] = cls(registry)
        return metrics

    def observe(self, method: str, route: str, status: int | str, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.duration.labels(method, route).observe(seconds)
