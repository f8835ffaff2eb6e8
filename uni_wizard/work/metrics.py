"""The workers' Prometheus counters, once per registry, per house.

    metrics = WorkMetrics.for_registry(runtime.metrics.registry)
    counts = metrics.of("bezalel")          # the house's series, each created at 0
    counts.claimed()                        # uniwizard_work_claims_total{house="bezalel"}
    counts.plan_ran("playbook", ok=True)    # uniwizard_work_plans_total{house,source,outcome}

Labels are bounded: ``house`` a configured house, ``source`` one of ``PLAN_SOURCES``, ``outcome`` one of
``PLAN_OUTCOMES`` or ``PROOF_OUTCOMES``. Never issue numbers, repositories or reasons (those are in the event
log and the report comments).
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter

from ..metricset import MetricSet

__all__ = ["PLAN_OUTCOMES", "PLAN_SOURCES", "PROOF_OUTCOMES", "HouseWorkMetrics", "WorkMetrics"]

PLAN_SOURCES = ("playbook", "model")
"""Where a plan came from: the issue's playbook, or the model planner (the house's planner or the agent loop)."""
PLAN_OUTCOMES = ("completed", "failed")
"""A plan ran every step (the agent loop: finished), or stopped at a failed step (the agent: before the end)."""
PROOF_OUTCOMES = ("passed", "failed")


class WorkMetrics(MetricSet):
    """The workers' counters of one registry (``WorkMetrics.for_registry``); ``of(house)`` binds one house."""

    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__(registry)
        self.claims = Counter(
            "uniwizard_work_claims",
            "Issues a house's worker claimed (status/in-progress).",
            ["house"],
            registry=registry,
        )
        self.plans = Counter(
            "uniwizard_work_plans",
            "Plans a house's worker ran, by source (playbook, model) and outcome (completed, failed).",
            ["house", "source", "outcome"],
            registry=registry,
        )
        self.pulls = Counter(
            "uniwizard_work_pulls_opened", "Pull requests a house's worker opened.", ["house"], registry=registry
        )
        self.blocked = Counter(
            "uniwizard_work_blocked", "Issues a house's worker set status/blocked.", ["house"], registry=registry
        )
        self.proofs = Counter(
            "uniwizard_work_proofs",
            "Proofs (the test run posted as the uni-wizard/proof status) by house and outcome (passed, failed).",
            ["house", "outcome"],
            registry=registry,
        )

    def of(self, house: str) -> HouseWorkMetrics:
        """The counters of ``house``, every series of it created (at 0) so a dashboard sees it before it moves."""
        self.claims.labels(house)
        self.pulls.labels(house)
        self.blocked.labels(house)
        for source in PLAN_SOURCES:
            for outcome in PLAN_OUTCOMES:
                self.plans.labels(house, source, outcome)
        for outcome in PROOF_OUTCOMES:
            self.proofs.labels(house, outcome)
        return HouseWorkMetrics(self, house)


@dataclass(frozen=True)
class HouseWorkMetrics:
    """One house's worker counters (``WorkMetrics.of``)."""

    metrics: WorkMetrics
    house: str

    def claimed(self) -> None:
        self.metrics.claims.labels(self.house).inc()

    def plan_ran(self, source: str, *, ok: bool) -> None:
        """One plan carried out; ``source`` outside ``PLAN_SOURCES`` counts as ``model``."""
        source = source if source in PLAN_SOURCES else "model"
        self.metrics.plans.labels(self.house, source, PLAN_OUTCOMES[0] if ok else PLAN_OUTCOMES[1]).inc()

    def pull_opened(self) -> None:
        self.metrics.pulls.labels(self.house).inc()

    def issue_blocked(self) -> None:
        self.metrics.blocked.labels(self.house).inc()

    def proof(self, *, passed: bool) -> None:
        self.metrics.proofs.labels(self.house, PROOF_OUTCOMES[0] if passed else PROOF_OUTCOMES[1]).inc()
