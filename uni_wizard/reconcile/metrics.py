"""The reconciler's metrics, once per registry. Labels are bounded: ``outcome`` (applied, failed,
error for a poll), ``sha`` only for the current release (one series)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from ..metricset import MetricSet

__all__ = ["ReconcileMetrics"]


class ReconcileMetrics(MetricSet):
    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__(registry)
        self.applied = Counter(
            "uniwizard_reconcile_applied",
            "Upgrades this host finished applying, by outcome (applied, failed).",
            ["outcome"],
            registry=registry,
        )
        self.polls = Counter(
            "uniwizard_reconcile_polls", "Polls of the mesh repository, by outcome (ok, error).", ["outcome"],
            registry=registry,
        )  # fmt: skip
        self.duration = Gauge(
            "uniwizard_reconcile_last_apply_duration_seconds",
            "Seconds the last apply took, from its start to its status (rollback included).",
            registry=registry,
        )
        self.release = Gauge(
            "uniwizard_release_info", "The sha this host runs (only the current one is exported).", ["sha"],
            registry=registry,
        )  # fmt: skip
        self._sha: str | None = None

    def current(self, sha: str | None) -> None:
        """Export ``sha`` as the one release (the series of the one before is removed)."""
        if self._sha is not None and self._sha != sha:
            self.release.remove(self._sha)
        if sha is not None:
            self.release.labels(sha=sha).set(1)
        self._sha = sha
