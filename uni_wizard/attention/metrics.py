"""The attention's metrics: errors captured and the forge writes they made, briefings written, escalations sent
immediate vs batched, engagement per category.

Labels are bounded: ``category`` is one of ``CATEGORIES`` (any other becomes ``other``), ``route`` is
``immediate`` or ``digest``, ``outcome`` is ``acted`` or ``ignored``.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from ..metricset import MetricSet

__all__ = ["CATEGORIES", "AttentionMetrics", "bounded"]

CATEGORIES = ("upgrade", "peer", "issue", "review", "approval", "docs", "error", "other")


def bounded(category: str) -> str:
    """``category`` as a metric label: one of ``CATEGORIES``."""
    return category if category in CATEGORIES else "other"


class AttentionMetrics(MetricSet):
    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__(registry)
        self.briefings = Counter(
            "uniwizard_briefings_written", "Daily briefings written to the forge.", registry=registry
        )
        self.escalations = Counter(
            "uniwizard_escalations_sent",
            "Escalations sent to the owner, by category and route (immediate: a mention; digest: batched).",
            ["category", "route"],
            registry=registry,
        )
        self.engagement = Counter(
            "uniwizard_escalation_engagement",
            "Escalations whose engagement was decided: the owner acted on the item within the window, or not.",
            ["category", "outcome"],
            registry=registry,
        )
        self.errors = Counter(
            "uniwizard_errors_captured",
            "Unexpected exceptions recorded by the error capture (each occurrence; the forge issue counts them too).",
            registry=registry,
        )
        self.error_issues = Counter(
            "uniwizard_error_issues_written",
            "Forge writes of the error capture, by what they did (opened, edited, reopened): a flood stays a few.",
            ["action"],
            registry=registry,
        )
        for action in ("opened", "edited", "reopened"):
            self.error_issues.labels(action)
        self.threshold = Gauge(
            "uniwizard_escalation_threshold",
            "The weight an escalation of the category needs to mention the owner at once (calibrated).",
            ["category"],
            registry=registry,
        )
