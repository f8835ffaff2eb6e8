"""The forge client's Prometheus metrics, created once per registry.

Labels are bounded: ``method``, ``route`` (the path *template*, such as
``/repos/{owner}/{repo}/issues/{index}``, never the concrete path) and
``status`` (the numeric code, or ``error`` when no answer came back).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from ..metricset import MetricSet

__all__ = ["ForgeMetrics"]

DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class ForgeMetrics(MetricSet):
    """``uniwizard_forge_requests_total{method,route,status}`` and
    ``uniwizard_forge_request_duration_seconds{method,route}`` on one registry
    (``ForgeMetrics.for_registry(registry)``)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__(registry)
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

    def observe(self, method: str, route: str, status: int | str, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.duration.labels(method, route).observe(seconds)
