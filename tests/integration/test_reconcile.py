"""The reconciler on a real devforge over loopback, with real git: which merged upgrades a host applies,
configuration installed and reloaded without a restart, statuses, ordering, a crash mid-apply."""

from __future__ import annotations

import json
import subprocess

import pytest
import reconcile_world
from loopback_http import LoopbackServer, json_reply
from reconcile_world import ROOT, Crash, RecordingServices, World, with_bid

from uni_wizard.observe.events import EventLog
from uni_wizard.reconcile.state import StateFile

mesh = reconcile_world.mesh  # the devforge of this module
world = reconcile_world.world  # a repository and hosts of its own per test

pytestmark = pytest.mark.skipif(
    subprocess.run(["git", "--version"], capture_output=True).returncode != 0, reason="git is not installed"
)

EZRA = (ROOT / "houses" / "ezra.yaml").read_text()


@pytest.fixture
def ready(loopback: LoopbackServer) -> str:
    loopback.route("GET", "/ready", json_reply({"ready": True}))
    return loopback.url + "/ready"


def deploy_statuses(statuses: list, host: str) -> list[tuple[str, str]]:
    return [(s.status, s.description) for s in statuses if s.context == f"uni-wizard/deploy/{host}"]


async def test_a_config_upgrade_is_installed_and_reloaded_without_a_restart(world: World, ready: str) -> None:
    host = await world.add_host("a", health_urls=[ready])
    assert host.runtime.houses["ezra"].bid_rate == 1.0
    number, sha = await world.upgrade({"houses/ezra.yaml": with_bid(EZRA, 0.5)})
    assert host.reconciler is not None

    done = await host.reconciler.reconcile_once()

    assert (done.outcome, done.sha, done.number) == ("applied", sha, number), done.reason
    assert "bid_rate: 0.5" in (host.config_dir / "houses" / "ezra.yaml").read_text()
    assert host.runtime.houses["ezra"].bid_rate == 0.5  # reloaded live in this process
    assert host.services.calls == ["reload:uni-wizard@worker.service"]  # the daemons reload; nothing restarts
    statuses = deploy_statuses(await world.statuses(sha), "a")
    assert [s for s, _ in statuses] == ["success", "pending"]  # newest first
    events = sorted(EventLog(host.runtime.store, "a").recent(10), key=lambda e: e.seq)
    assert [(e.kind, e.data.get("step"), e.data["sha"], e.number) for e in events] == [
        ("deploy.started", None, sha, number),
        ("deploy.step", "fetched", sha, number),  # each step of the apply, as the live feed shows it
        ("deploy.step", "activated", sha, number),
        ("deploy.step", "healthy", sha, number),
        ("deploy.applied", None, sha, number),
    ]
    state = StateFile(host.release_root / "reconcile-state.json").load()
    assert state.current is not None and state.current.sha == sha and state.applying is None
    registry = host.runtime.metrics.registry
    assert registry.get_sample_value("uniwizard_reconcile_applied_total", {"outcome": "applied"}) == 1
    assert registry.get_sample_value("uniwizard_release_info", {"sha": sha}) == 1

    again = await host.reconciler.reconcile_once()  # applied once: the next poll has nothing to do
    assert again.outcome == "idle" and host.services.calls == ["reload:uni-wizard@worker.service"]
    assert len(deploy_statuses(await world.statuses(sha), "a")) == 2


async def test_merged_prs_that_are_not_approved_upgrades_are_not_applied(world: World, ready: str) -> None:
    host = await world.add_host("a", health_urls=[ready])
    assert host.reconciler is not None
    shas = [
        (await world.upgrade({"houses/ezra.yaml": with_bid(EZRA, 0.1)}, approve=False))[1],
        (await world.upgrade({"houses/ezra.yaml": with_bid(EZRA, 0.2)}, push_after_approval=True))[1],
        (await world.upgrade({"houses/ezra.yaml": with_bid(EZRA, 0.3)}, labels=()))[1],
        (await world.upgrade({"houses/ezra.yaml": with_bid(EZRA, 0.4)}, labels=("upgrade", "upgrade/proposed")))[1],
    ]

    done = await host.reconciler.reconcile_once()

    assert done.outcome == "idle", done
    assert (host.config_dir / "houses" / "ezra.yaml").read_text() == EZRA
    assert host.services.calls == []
    for sha in shas:
        assert deploy_statuses(await world.statuses(sha), "a") == []


async def test_an_invalid_house_fails_changes_nothing_and_is_not_retried(world: World, ready: str) -> None:
    host = await world.add_host("a", health_urls=[ready])
    assert host.reconciler is not None
    bad = EZRA + "\nsuperpowers: true\n"
    _, sha = await world.upgrade({"houses/ezra.yaml": bad, "houses/timmy.yaml": with_bid(EZRA, 0.9)})

    done = await host.reconciler.reconcile_once()

    assert done.outcome == "failed" and "houses/" in done.reason and "superpowers" in done.reason, done.reason
    assert (host.config_dir / "houses" / "ezra.yaml").read_text() == EZRA
    assert host.services.calls == []
    ((status, why), _) = deploy_statuses(await world.statuses(sha), "a")
    assert status == "failure" and "superpowers" in why
    assert (await host.reconciler.reconcile_once()).outcome == "idle"  # a failed sha waits for a new approval
    assert len(deploy_statuses(await world.statuses(sha), "a")) == 2


async def test_a_host_waits_for_the_hosts_of_the_earlier_waves(world: World, ready: str) -> None:
    order = {"order": [["a"], ["b"]]}
    a = await world.add_host("a", health_urls=[ready], reconcile=order)
    b = await world.add_host("b", health_urls=[ready], reconcile=order)
    assert a.reconciler is not None and b.reconciler is not None
    _, sha = await world.upgrade({"houses/ezra.yaml": with_bid(EZRA, 0.7)})

    waiting = await b.reconciler.reconcile_once()
    assert (waiting.outcome, waiting.sha) == ("waiting", sha) and "a" in waiting.reason
    assert b.services.calls == [] and deploy_statuses(await world.statuses(sha), "b") == []

    assert (await a.reconciler.reconcile_once()).outcome == "applied"
    assert (await b.reconciler.reconcile_once()).outcome == "applied"
    assert b.runtime.houses["ezra"].bid_rate == 0.7


async def test_upgrades_are_applied_one_at_a_time_oldest_first(world: World, ready: str) -> None:
    host = await world.add_host("a", health_urls=[ready])
    assert host.reconciler is not None
    _, first = await world.upgrade({"houses/ezra.yaml": with_bid(EZRA, 0.5)})
    assert (await host.reconciler.reconcile_once()).sha == first
    _, second = await world.upgrade({"houses/ezra.yaml": with_bid(EZRA, 0.6)})
    _, third = await world.upgrade({"houses/ezra.yaml": with_bid(EZRA, 0.7)})

    assert [(await host.reconciler.reconcile_once()).sha for _ in range(3)] == [second, third, ""]
    assert host.runtime.houses["ezra"].bid_rate == 0.7


@pytest.mark.parametrize("crash_on", ["reload"])
async def test_a_crash_after_the_host_changed_is_rolled_back_on_restart(
    world: World, ready: str, crash_on: str
) -> None:
    services = RecordingServices(crash_on=crash_on)
    host = await world.add_host("a", health_urls=[ready], services=services)
    assert host.reconciler is not None
    _, sha = await world.upgrade({"houses/ezra.yaml": with_bid(EZRA, 0.5)})
    with pytest.raises(Crash):
        await host.reconciler.reconcile_once()
    state_file = StateFile(host.release_root / "reconcile-state.json")
    applying = state_file.load().applying
    assert applying is not None and (applying.sha, applying.phase) == (sha, "changed")
    assert "bid_rate: 0.5" in (host.config_dir / "houses" / "ezra.yaml").read_text()

    services.crash_on = None  # the restarted reconciler
    done = await host.reconciler.reconcile_once()

    assert done.outcome == "failed" and "interrupted" in done.reason, done.reason
    assert (host.config_dir / "houses" / "ezra.yaml").read_text() == EZRA
    assert services.calls == ["reload:uni-wizard@worker.service", "reload:uni-wizard@worker.service"]
    assert state_file.load().applying is None and sha in state_file.load().failed
    assert deploy_statuses(await world.statuses(sha), "a")[0][0] == "failure"
    assert (await host.reconciler.reconcile_once()).outcome == "idle"


async def test_an_apply_cut_short_before_any_change_is_retried(world: World, ready: str) -> None:
    host = await world.add_host("a", health_urls=[ready])
    assert host.reconciler is not None
    _, sha = await world.upgrade({"houses/ezra.yaml": with_bid(EZRA, 0.5)})
    state_file = StateFile(host.release_root / "reconcile-state.json")
    cut = {"sha": sha, "number": 1, "phase": "prepared", "previous_target": None}
    state_file.path.parent.mkdir(parents=True, exist_ok=True)
    state_file.path.write_text(json.dumps({"version": 1, "applying": cut}))

    resumed = await host.reconciler.reconcile_once()
    applied = await host.reconciler.reconcile_once()

    assert (resumed.outcome, applied.outcome, applied.sha) == ("resumed", "applied", sha)
    assert host.runtime.houses["ezra"].bid_rate == 0.5
