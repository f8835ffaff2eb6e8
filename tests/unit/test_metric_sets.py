"""``MetricSet.for_registry``: one instance of each metrics set per registry, ``REGISTRY`` by default."""

from __future__ import annotations

import gc
import inspect
import weakref
from collections.abc import Callable

import pytest
from prometheus_client import REGISTRY, CollectorRegistry, Counter, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from uni_wizard.cascade.metrics import CascadeMetrics
from uni_wizard.dispatch.forge_lease import ForgeLease
from uni_wizard.dispatch.lease_metrics import LeaseMetrics
from uni_wizard.dispatch.metrics import DispatchMetrics
from uni_wizard.forge.http import ForgeSession
from uni_wizard.forge.metrics import ForgeMetrics
from uni_wizard.harness.runtime import Runtime
from uni_wizard.intake.queue import WebhookIntake, WebhookMetrics
from uni_wizard.metricset import MetricSet
from uni_wizard.observe.metrics import HarnessMetrics
from uni_wizard.reconcile.metrics import ReconcileMetrics
from uni_wizard.upgrade.metrics import UpgradeMetrics
from uni_wizard.web.guard import BodyGuard, GuardMetrics

EVERY_SET: list[type[MetricSet]] = [
    HarnessMetrics,
    ForgeMetrics,
    DispatchMetrics,
    LeaseMetrics,
    WebhookMetrics,
    GuardMetrics,
    CascadeMetrics,
    UpgradeMetrics,
    ReconcileMetrics,
]


class Probe(MetricSet):
    """A set with one counter, to watch the helper itself."""

    made = 0

    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__(registry)
        Probe.made += 1
        self.hits = Counter("uniwizard_probe_hits", "Probe hits.", registry=registry)


class Empty(MetricSet):
    """A set without metrics: safe to create on the process registry."""


def test_a_fresh_registry_gets_its_own_set_and_the_same_registry_the_same_one() -> None:
    first, second = CollectorRegistry(), CollectorRegistry()
    before = Probe.made
    one = Probe.for_registry(first)
    assert Probe.for_registry(first) is one and one.registry is first
    other = Probe.for_registry(second)
    assert other is not one and other.registry is second
    assert Probe.made == before + 2
    one.hits.inc()
    assert first.get_sample_value("uniwizard_probe_hits_total") == 1.0
    assert second.get_sample_value("uniwizard_probe_hits_total") == 0.0


def test_the_default_registry_is_prometheus_clients() -> None:
    default = inspect.signature(MetricSet.for_registry).parameters["registry"].default
    assert default is REGISTRY
    assert Empty.for_registry() is Empty.for_registry(REGISTRY)
    assert Empty.for_registry().registry is REGISTRY


@pytest.mark.parametrize(
    "take",
    [
        ForgeSession.__init__,
        WebhookIntake.__init__,
        BodyGuard.__init__,
        ForgeLease.__init__,
        Runtime.__init__,
    ],
    ids=["ForgeSession", "WebhookIntake", "BodyGuard", "ForgeLease", "Runtime"],
)
def test_every_registry_argument_defaults_to_registry_not_none(take: Callable[..., object]) -> None:
    parameters = inspect.signature(take).parameters
    name = "metrics_registry" if "metrics_registry" in parameters else "registry"
    assert parameters[name].default is REGISTRY


@pytest.mark.parametrize("metric_set", EVERY_SET, ids=lambda cls: cls.__name__)
def test_every_metrics_set_is_one_per_registry(metric_set: type[MetricSet]) -> None:
    registry = CollectorRegistry()
    made = metric_set.for_registry(registry)
    assert isinstance(made, metric_set) and made.registry is registry
    assert metric_set.for_registry(registry) is made
    assert metric_set.for_registry(CollectorRegistry()) is not made
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        metric_set(registry)  # what for_registry saves every caller from


def test_every_set_shares_one_registry_and_the_exposition_parses() -> None:
    registry = CollectorRegistry(auto_describe=True)
    for metric_set in EVERY_SET:
        metric_set.for_registry(registry)
    names = {family.name for family in text_string_to_metric_families(generate_latest(registry).decode())}
    expected = {
        "uniwizard_tool_calls",
        "uniwizard_forge_requests",
        "uniwizard_triage",
        "uniwizard_lease_transitions",
        "uniwizard_webhooks_received",
        "uniwizard_http_refused",
        "uniwizard_cascade_requests",
        "uniwizard_upgrade_transitions",
        "uniwizard_reconcile_applied",
    }
    assert expected <= names


def test_the_sets_go_with_their_registry() -> None:
    registry = CollectorRegistry()
    HarnessMetrics.for_registry(registry)  # holds its registry, as the old weak maps' values did
    gone = weakref.ref(registry)
    del registry
    gc.collect()
    assert gone() is None
