"""The forge lease's pure parts: the standby's lapse watch, the blob sha, the metrics, and which lease the
dispatcher gets from the settings. The lease's behaviour against a real forge is in
``tests/integration/test_forge_lease.py``."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from uni_wizard.assembly.dispatcher import build_lease
from uni_wizard.dispatch.forge_lease import ForgeLease, LapseWatch
from uni_wizard.dispatch.lease import LocalLease
from uni_wizard.dispatch.lease_file import blob_sha
from uni_wizard.dispatch.lease_metrics import TRANSITIONS, LeaseMetrics
from uni_wizard.errors import ConfigError
from uni_wizard.meshfile.schema import LeaseSettings
from uni_wizard.testing import make_runtime


def test_the_watch_counts_from_the_first_sight_of_a_sha_on_the_standbys_clock() -> None:
    watch = LapseWatch()
    assert watch.unchanged_for("a", 100.0) == 0.0
    assert watch.unchanged_for("a", 103.5) == 3.5
    assert watch.unchanged_for("b", 104.0) == 0.0  # renewed: the count starts again
    assert watch.unchanged_for("b", 111.0) == 7.0
    watch.forget()
    assert watch.unchanged_for("b", 112.0) == 0.0


@pytest.mark.parametrize("data", [b"", b"{}\n", b'{"holder": "h\xc3\xa9"}\n' * 50])
def test_blob_sha_is_gits(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "blob"
    path.write_bytes(data)
    git = subprocess.run(["git", "hash-object", str(path)], capture_output=True, text=True, timeout=30, check=True)
    assert blob_sha(data) == git.stdout.strip()


class Observed:
    def __init__(self, name: str, held: bool, epoch: int) -> None:
        self.name, self.held, self.epoch = name, held, epoch


def test_metrics_are_read_from_the_lease_at_scrape_time_once_per_registry() -> None:
    registry = CollectorRegistry()
    metrics = LeaseMetrics.for_registry(registry)
    assert LeaseMetrics.for_registry(registry) is metrics
    lease = Observed("dispatcher", False, 0)
    metrics.track(lease)
    for event in TRANSITIONS:
        assert (
            registry.get_sample_value("uniwizard_lease_transitions_total", {"lease": "dispatcher", "event": event}) == 0
        )
    assert registry.get_sample_value("uniwizard_lease_held", {"lease": "dispatcher"}) == 0.0
    lease.held, lease.epoch = True, 4
    metrics.transition("dispatcher", "taken_over")
    assert registry.get_sample_value("uniwizard_lease_held", {"lease": "dispatcher"}) == 1.0
    assert registry.get_sample_value("uniwizard_lease_epoch", {"lease": "dispatcher"}) == 4.0
    labels = {"lease": "dispatcher", "event": "taken_over"}
    assert registry.get_sample_value("uniwizard_lease_transitions_total", labels) == 1.0


def test_without_a_mesh_config_the_dispatcher_keeps_its_local_lease(tmp_path: Path) -> None:
    runtime = make_runtime(tmp_path)
    try:
        assert isinstance(build_lease(runtime.settings, runtime), LocalLease)
    finally:
        runtime.close()


async def test_with_a_mesh_config_the_dispatcher_lease_is_on_the_forge(tmp_path: Path) -> None:
    mesh = tmp_path / "mesh.yaml"
    mesh.write_text("lease:\n  repo: org/meshrepo\n  ttl_seconds: 9\n  renew_seconds: 3\n")
    runtime = make_runtime(
        tmp_path, mesh_config=mesh, gitea_url="http://127.0.0.1:9", gitea_token="t0ken", host="vps-a"
    )
    try:
        lease = build_lease(runtime.settings, runtime)
        assert isinstance(lease, ForgeLease)
        assert lease.holder == "vps-a" and lease.house == "allegro"
        assert lease.settings == LeaseSettings(repo="org/meshrepo", ttl_seconds=9, renew_seconds=3)
        assert not lease.held and lease.epoch == 0
        scraped = runtime.metrics.registry.get_sample_value("uniwizard_lease_held", {"lease": "dispatcher"})
        assert scraped == 0.0
        await lease.aclose()
    finally:
        runtime.close()


def test_a_forge_lease_needs_the_forge_url_and_token(tmp_path: Path) -> None:
    mesh = tmp_path / "mesh.yaml"
    mesh.write_text("{}\n")
    runtime = make_runtime(tmp_path, mesh_config=mesh)
    try:
        with pytest.raises(ConfigError, match="gitea_url and gitea_token"):
            build_lease(runtime.settings, runtime)
    finally:
        runtime.close()
