"""The workers' counters: one set per registry, every series of a house created at 0, bounded labels."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from uni_wizard.work.metrics import WorkMetrics


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def test_a_house_series_exist_at_zero_before_anything_happens() -> None:
    registry = CollectorRegistry()
    WorkMetrics.for_registry(registry).of("bezalel")
    text = generate_latest(registry).decode()
    for series in (
        'uniwizard_work_claims_total{house="bezalel"} 0.0',
        'uniwizard_work_pulls_opened_total{house="bezalel"} 0.0',
        'uniwizard_work_blocked_total{house="bezalel"} 0.0',
        'uniwizard_work_plans_total{house="bezalel",outcome="completed",source="playbook"} 0.0',
        'uniwizard_work_plans_total{house="bezalel",outcome="failed",source="model"} 0.0',
        'uniwizard_work_proofs_total{house="bezalel",outcome="passed"} 0.0',
        'uniwizard_work_proofs_total{house="bezalel",outcome="failed"} 0.0',
    ):
        assert series in text


def test_each_event_moves_its_own_counter_of_its_own_house() -> None:
    registry = CollectorRegistry()
    metrics = WorkMetrics.for_registry(registry)
    assert WorkMetrics.for_registry(registry) is metrics  # one set per registry
    bezalel, ezra = metrics.of("bezalel"), metrics.of("ezra")
    bezalel.claimed()
    bezalel.claimed()
    bezalel.plan_ran("playbook", ok=True)
    bezalel.plan_ran("model", ok=False)
    bezalel.plan_ran("something else", ok=True)  # an unknown source is the model's: the label set stays fixed
    bezalel.proof(passed=False)
    ezra.proof(passed=True)
    ezra.pull_opened()
    ezra.issue_blocked()
    assert value(registry, "uniwizard_work_claims_total", house="bezalel") == 2
    assert value(registry, "uniwizard_work_claims_total", house="ezra") == 0
    assert value(registry, "uniwizard_work_plans_total", house="bezalel", source="playbook", outcome="completed") == 1
    assert value(registry, "uniwizard_work_plans_total", house="bezalel", source="model", outcome="failed") == 1
    assert value(registry, "uniwizard_work_plans_total", house="bezalel", source="model", outcome="completed") == 1
    assert value(registry, "uniwizard_work_proofs_total", house="bezalel", outcome="failed") == 1
    assert value(registry, "uniwizard_work_proofs_total", house="ezra", outcome="passed") == 1
    assert value(registry, "uniwizard_work_pulls_opened_total", house="ezra") == 1
    assert value(registry, "uniwizard_work_blocked_total", house="ezra") == 1
    assert value(registry, "uniwizard_work_blocked_total", house="bezalel") == 0
