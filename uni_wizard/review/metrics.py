"""The reviewer's Prometheus metrics, once per registry: verdicts, merges, approval and merge latency, and the
merge queue's test runs and length.

    metrics = ReviewMetrics.for_registry(runtime.metrics.registry)
    metrics.verdict("bezalel", "approved")         # uniwizard_review_verdicts_total{house,verdict}
    metrics.merged("bezalel", opened, approved)   # the latencies, and uniwizard_review_merges_total{house,outcome}

Labels are bounded: ``house`` is the house whose forge user opened the PR (``other`` for anyone else),
``verdict`` one of ``VERDICTS``, ``outcome`` one of ``OUTCOMES``. Never repositories, numbers or reasons (those
are in the event log).
"""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from ..metricset import MetricSet

__all__ = ["OTHER", "OUTCOMES", "QUEUE_VERDICTS", "VERDICTS", "ReviewMetrics"]

OTHER = "other"  # a PR opened by a forge user that is no house's
VERDICTS = ("approved", "changes_requested", "escalated", "pre_reviewed", "held")
OUTCOMES = ("merged", "rejected", "head_moved", "refused", "denied", "error")
QUEUE_VERDICTS = ("passed", "failed", "undecided")
# from a push-button approval to a day of waiting for the owner
LATENCY_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600, float("inf"))


class ReviewMetrics(MetricSet):
    """The reviewer's metrics of one registry (``ReviewMetrics.for_registry``)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__(registry)
        self.verdicts = Counter(
            "uniwizard_review_verdicts",
            "Verdicts the reviewer wrote on PR heads, by the house that opened the PR and verdict.",
            ["house", "verdict"],
            registry=registry,
        )
        self.merges = Counter(
            "uniwizard_review_merges",
            "Merges the reviewer asked for and what came of them, by the house that opened the PR.",
            ["house", "outcome"],
            registry=registry,
        )
        self.approval_latency = Histogram(
            "uniwizard_review_approval_latency_seconds",
            "From a merged PR's opening to the approval of its head that counted, by the house that opened it.",
            ["house"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.merge_latency = Histogram(
            "uniwizard_review_merge_latency_seconds",
            "From the approval that counted to the merge, by the house that opened the PR.",
            ["house"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.queue_runs = Counter(
            "uniwizard_merge_queue_runs",
            "Test runs of the merge queue (batches and culprit searches) by verdict (passed, failed, undecided).",
            ["verdict"],
            registry=registry,
        )
        self.queued = Gauge(
            "uniwizard_merge_queue_length", "PRs the last merge pass found ready to land.", registry=registry
        )
        for verdict in QUEUE_VERDICTS:
            self.queue_runs.labels(verdict)

    def house(self, house: str) -> None:
        """Create every series of ``house`` (at 0), so a dashboard sees it before it moves."""
        for verdict in VERDICTS:
            self.verdicts.labels(house, verdict)
        for outcome in OUTCOMES:
            self.merges.labels(house, outcome)
        self.approval_latency.labels(house)
        self.merge_latency.labels(house)

    def verdict(self, house: str, verdict: str) -> None:
        if verdict in VERDICTS:
            self.verdicts.labels(house, verdict).inc()

    def merge(self, house: str, outcome: str, *, opened: datetime | None, approved: datetime | None) -> None:
        """A merge asked for; when merged, the latencies known (``opened``: the PR's creation, ``approved``: the
        approval that counted)."""
        if outcome not in OUTCOMES:
            return
        self.merges.labels(house, outcome).inc()
        if outcome != "merged" or approved is None:
            return
        if opened is not None:
            self.approval_latency.labels(house).observe(max(0.0, (approved - opened).total_seconds()))
        self.merge_latency.labels(house).observe(max(0.0, (datetime.now(UTC) - approved).total_seconds()))

    def queue_run(self, verdict: str) -> None:
        if verdict in QUEUE_VERDICTS:
            self.queue_runs.labels(verdict).inc()
