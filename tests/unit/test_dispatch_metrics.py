"""``DispatchMetrics``: names, labels and buckets, and ``uniwizard_issues`` read from the store at scrape."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from uni_wizard.dispatch.metrics import SWEEP_ACTIONS, DispatchMetrics, IssueStatesCollector
from uni_wizard.intake.queue import WebhookMetrics
from uni_wizard.store import Store, utc_now


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry(auto_describe=True)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "uni-wizard.db")
    yield s
    s.close()


def set_state(store: Store, repository: str, number: int, status: str, house: str | None) -> None:
    store.submit(
        lambda db: db.execute(
            "INSERT INTO issue_states (repository, number, status, house, updated_at) VALUES (?,?,?,?,?) "
            "ON CONFLICT(repository, number) DO UPDATE SET status = excluded.status, house = excluded.house, "
            "updated_at = excluded.updated_at",
            (repository, number, status, house, utc_now()),
        )
    ).result()


def issues(registry: CollectorRegistry) -> dict[tuple[str, str], float]:
    return {
        (s.labels["status"], s.labels["house"]): s.value
        for family in text_string_to_metric_families(generate_latest(registry).decode())
        for s in family.samples
        if s.name == "uniwizard_issues"
    }


def test_once_per_registry(registry: CollectorRegistry) -> None:
    assert DispatchMetrics.for_registry(registry) is DispatchMetrics.for_registry(registry)
    assert DispatchMetrics.for_registry(CollectorRegistry()) is not DispatchMetrics.for_registry(registry)


def test_triage_counter_and_latency_histogram(registry: CollectorRegistry) -> None:
    metrics = DispatchMetrics.for_registry(registry)
    assert registry.get_sample_value("uniwizard_triage_total", {"kind": "bug", "priority": "P1"}) is None
    metrics.triage.labels("bug", "P1").inc()
    metrics.triage.labels(kind="bug", priority="P1").inc()
    metrics.triage.labels("feature", "P3").inc()
    assert registry.get_sample_value("uniwizard_triage_total", {"kind": "bug", "priority": "P1"}) == 2
    assert registry.get_sample_value("uniwizard_triage_total", {"kind": "feature", "priority": "P3"}) == 1

    metrics.triage_latency.observe(0.004)
    metrics.triage_latency.observe(42.0)
    metrics.triage_latency.observe(3600.0)
    bucket = "uniwizard_triage_latency_seconds_bucket"
    assert registry.get_sample_value(bucket, {"le": "0.01"}) == 1  # buckets start at 10 ms ...
    assert registry.get_sample_value(bucket, {"le": "600.0"}) == 2  # ... and end at 10 min
    assert registry.get_sample_value(bucket, {"le": "+Inf"}) == 3
    assert registry.get_sample_value("uniwizard_triage_latency_seconds_count") == 3
    assert registry.get_sample_value("uniwizard_triage_latency_seconds_sum") == pytest.approx(3642.004)


def test_routing_decisions_by_house_with_none(registry: CollectorRegistry) -> None:
    metrics = DispatchMetrics.for_registry(registry)
    name = "uniwizard_routing_decisions_total"
    assert registry.get_sample_value(name, {"house": "none"}) == 0  # a bounded value: present from the start
    assert registry.get_sample_value(name, {"house": "ezra"}) is None  # houses: only once seen
    metrics.routing.labels("ezra").inc()
    metrics.routed("ezra")
    metrics.routed(None)
    metrics.routed("")
    assert registry.get_sample_value(name, {"house": "ezra"}) == 2
    assert registry.get_sample_value(name, {"house": "none"}) == 2


def test_sweep_duration_and_repairs(registry: CollectorRegistry) -> None:
    metrics = DispatchMetrics.for_registry(registry)
    for mode in ("incremental", "full"):
        assert registry.get_sample_value("uniwizard_sweep_duration_seconds_count", {"mode": mode}) == 0
    for action in ("triage", "assign", "requeue", "relabel", "comment"):
        assert registry.get_sample_value("uniwizard_sweep_repairs_total", {"action": action}) == 0
    assert SWEEP_ACTIONS == ("triage", "assign", "requeue", "relabel", "comment")
    metrics.sweep_duration.labels("full").observe(12.5)
    metrics.sweep_duration.labels(mode="incremental").observe(0.2)
    metrics.sweep_repairs.labels("relabel").inc()
    metrics.sweep_repairs.labels("relabel").inc()
    assert registry.get_sample_value("uniwizard_sweep_duration_seconds_sum", {"mode": "full"}) == 12.5
    assert registry.get_sample_value("uniwizard_sweep_duration_seconds_count", {"mode": "incremental"}) == 1
    assert registry.get_sample_value("uniwizard_sweep_repairs_total", {"action": "relabel"}) == 2


def test_every_name_and_label_set(registry: CollectorRegistry, store: Store) -> None:
    DispatchMetrics.for_registry(registry).watch(store)
    families = {f.name: f for f in text_string_to_metric_families(generate_latest(registry).decode())}
    expected = {
        "uniwizard_triage": ("counter", None),
        "uniwizard_triage_latency_seconds": ("histogram", set()),
        "uniwizard_routing_decisions": ("counter", {"house"}),
        "uniwizard_sweep_duration_seconds": ("histogram", {"mode"}),
        "uniwizard_sweep_repairs": ("counter", {"action"}),
        "uniwizard_issues": ("gauge", None),
    }
    for name, (kind, labels) in expected.items():
        assert families[name].type == kind, name
        if labels is not None:
            for sample in families[name].samples:
                assert set(sample.labels) - {"le"} == labels, name


def test_issue_states_are_counted_at_scrape_time(registry: CollectorRegistry, store: Store) -> None:
    metrics = DispatchMetrics.for_registry(registry)
    assert issues(registry) == {}  # no store watched: an empty family
    collector = metrics.watch(store)
    assert metrics.watch(store) is collector  # watching twice counts once
    assert issues(registry) == {}

    set_state(store, "org/a", 1, "triage", None)
    set_state(store, "org/a", 2, "routed", "ezra")
    set_state(store, "org/a", 3, "routed", "ezra")
    set_state(store, "org/b", 1, "in-progress", "")
    assert issues(registry) == {("triage", "none"): 1, ("routed", "ezra"): 2, ("in-progress", "none"): 1}
    assert registry.get_sample_value("uniwizard_issues", {"status": "routed", "house": "ezra"}) == 2

    set_state(store, "org/a", 2, "done", "ezra")  # rows change: the next scrape sees it
    store.submit(lambda db: db.execute("DELETE FROM issue_states WHERE repository = 'org/b'")).result()
    assert issues(registry) == {("triage", "none"): 1, ("routed", "ezra"): 1, ("done", "ezra"): 1}


def test_the_collector_alone_and_two_stores_on_one_file(store: Store, tmp_path: Path) -> None:
    set_state(store, "org/a", 1, "review", "bezalel")
    collector = IssueStatesCollector(store)
    same_file = Store(store.path)
    try:
        collector.add(same_file)  # the same database through another Store: counted once
        other = Store(tmp_path / "other.db")
        try:
            set_state(other, "org/z", 9, "review", "bezalel")
            collector.add(other)
            registry = CollectorRegistry(auto_describe=True)
            registry.register(collector)
            assert issues(registry) == {("review", "bezalel"): 2}
        finally:
            other.close()
    finally:
        same_file.close()


def test_registering_does_not_read_the_store(tmp_path: Path) -> None:
    class Exploding(Store):
        def query(self, sql: str, params: object = ()) -> list:  # type: ignore[override, type-arg]
            raise AssertionError("read at registration")

    store = Exploding(tmp_path / "x.db")
    try:
        registry = CollectorRegistry(auto_describe=True)  # like the process default registry
        registry.register(IssueStatesCollector(store))  # describe(), not collect(): no query
        with pytest.raises(AssertionError, match="read at registration"):
            generate_latest(registry)  # a scrape does read it
    finally:
        store.close()


def test_the_webhook_counter_is_uniwizard_webhooks_received_total() -> None:
    registry = CollectorRegistry()
    WebhookMetrics.for_registry(registry).count("issues", "accepted")
    WebhookMetrics.for_registry(registry).count("nonsense", "rejected")
    name = "uniwizard_webhooks_received_total"
    assert registry.get_sample_value(name, {"event_type": "issues", "outcome": "accepted"}) == 1
    assert registry.get_sample_value(name, {"event_type": "other", "outcome": "rejected"}) == 1
    assert (
        registry.get_sample_value("uniwizard_webhook_deliveries_total", {"event_type": "issues", "outcome": "accepted"})
        is None
    )
