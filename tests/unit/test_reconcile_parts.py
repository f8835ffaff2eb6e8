"""The reconciler's pure parts and disk parts: settings, the state file, pins, waves, the health gate,
config validation, install and restore, the ``current`` switch, the houses reload."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import httpx
import pytest

from uni_wizard.assembly.reconciler import health_urls
from uni_wizard.config import Settings
from uni_wizard.errors import ConfigError, DeployFailed, UpgradeError
from uni_wizard.forge.models import CommitStatus
from uni_wizard.meshfile.reconcile import ReconcileSettings
from uni_wizard.meshfile.schema import HostEntry, MeshConfig
from uni_wizard.reconcile.candidates import waiting_for
from uni_wizard.reconcile.configs import ConfigInstaller, validate_files
from uni_wizard.reconcile.loop import next_wait
from uni_wizard.reconcile.releases import Releases, parse_pin, share
from uni_wizard.reconcile.services import HttpHealthGate
from uni_wizard.reconcile.state import Applying, DeployState, Release, StateFile
from uni_wizard.testing import FakeClock, make_runtime

ROOT = Path(__file__).resolve().parents[2]
HOUSES = {f"houses/{p.name}": p.read_bytes() for p in (ROOT / "houses").glob("*.yaml")}


def test_waves_give_each_host_its_predecessors() -> None:
    settings = ReconcileSettings(order=(("vps-b",), ("vps-a", "x"), ("sovereign",)))
    assert settings.predecessors("vps-b") == ()
    assert settings.predecessors("x") == ("vps-b",)
    assert settings.predecessors("sovereign") == ("vps-b", "vps-a", "x")
    assert settings.predecessors("elsewhere") == ()


@pytest.mark.parametrize(
    ("section", "needle"),
    [
        ({"order": [["a"], ["a"]]}, "two waves"),
        ({"order": [[]]}, "empty wave"),
        ({"order": [["ghost"]]}, "not a host of the mesh"),
        ({"pip_args": ["requests"]}, "not an option"),
        ({"jitter": 1.5}, "jitter"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_a_bad_reconcile_section_is_refused_with_the_key(section: dict[str, object], needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        MeshConfig.model_validate({"hosts": [{"name": "a", "url": "http://a"}], "reconcile": section})


def test_the_state_file_round_trips_and_a_corrupt_one_is_an_error(tmp_path: Path) -> None:
    file = StateFile(tmp_path / "state.json")
    assert file.load() == DeployState()
    state = DeployState(applying=Applying("s2", 7, "changed", "releases/s1", package=True))
    state.record_applied(Release("s1", "0.1.0", "releases/s1"))
    state.record_failed("s3", "health gate")
    state.unreported = [["s3", "failure", "health gate"]]
    file.save(state)
    assert file.load() == state and oct(file.path.stat().st_mode & 0o777) == "0o600"
    assert state.done("s1") and state.done("s3") and not state.done("s2")
    file.path.write_text("{not json")
    with pytest.raises(UpgradeError, match="not JSON"):
        file.load()
    file.path.write_text(json.dumps({"version": 99}))
    with pytest.raises(UpgradeError, match="version 1"):
        file.load()


@pytest.mark.parametrize(("text", "expected"), [("0.2.0\n", "0.2.0"), ("# pinned\n\n1.0.0rc1  # soon\n", "1.0.0rc1")])
def test_a_pin_file_holds_one_version(text: str, expected: str) -> None:
    assert parse_pin(text, "uni-wizard.version") == expected


@pytest.mark.parametrize("text", ["", "0.1\n0.2\n", "latest", "1.0; rm -rf /"])
def test_a_bad_pin_file_is_refused(text: str) -> None:
    with pytest.raises(DeployFailed, match="uni-wizard.version"):
        parse_pin(text, "uni-wizard.version")


def test_waiting_for_reads_the_newest_status_per_host() -> None:
    statuses = [
        CommitStatus(status="success", context="uni-wizard/deploy/a"),
        CommitStatus(status="pending", context="uni-wizard/deploy/a"),
        CommitStatus(status="pending", context="uni-wizard/deploy/b"),
        CommitStatus(status="success", context="uni-wizard/proof"),
    ]
    assert waiting_for(statuses, ("a", "b", "c"), "uni-wizard/deploy/") == ["b", "c"]


def test_the_poll_wait_stays_within_the_jitter() -> None:
    assert next_wait(30, 0.2, lambda: 0.0) == pytest.approx(24)
    assert next_wait(30, 0.2, lambda: 0.999999) == pytest.approx(36, abs=1e-3)
    assert next_wait(30, 0.0, lambda: 0.7) == 30


async def test_the_health_gate_waits_for_every_url_until_its_deadline() -> None:
    clock = FakeClock(0.0)
    answers = {"/a": [503, 200], "/b": [200]}

    def handler(request: httpx.Request) -> httpx.Response:
        queue = answers[request.url.path]
        return httpx.Response(queue.pop(0) if len(queue) > 1 else queue[0])

    async def sleep(seconds: float) -> None:
        clock.advance(seconds)

    gate = HttpHealthGate(interval=1.0, clock=clock, sleep=sleep, transport=httpx.MockTransport(handler))
    report = await gate.wait_ready(["http://h/a", "http://h/b"], deadline=10)
    assert report.healthy and report.waited == 1.0
    answers["/a"] = [503]
    report = await gate.wait_ready(["http://h/a"], deadline=3)
    assert not report.healthy and "not ready within 3 s" in report.reason and "http://h/a: 503" in report.reason


def test_validation_uses_the_real_loaders_and_names_the_file() -> None:
    validate_files({**HOUSES, "configs/triage.yaml": (ROOT / "configs" / "triage.yaml").read_bytes()})
    with pytest.raises(ConfigError, match="ezra"):
        validate_files({**HOUSES, "houses/ezra.yaml": HOUSES["houses/ezra.yaml"] + b"\nunknown_rule: 1\n"})
    with pytest.raises(ConfigError, match="configs/review.yaml"):
        validate_files({"configs/review.yaml": b"max_diff_lines: -3\n"})
    with pytest.raises(ConfigError, match="mapping"):
        validate_files({"configs/grafana.yaml": b"- a list\n"})


def test_install_mirrors_the_commit_and_restore_puts_everything_back(tmp_path: Path) -> None:
    etc = tmp_path / "etc"
    shutil.copytree(ROOT / "houses", etc / "houses")
    (etc / "configs").mkdir()
    (etc / "configs" / "old.yaml").write_text("a: 1\n")
    installer = ConfigInstaller(etc, tmp_path / "backups")
    before = installer.installed()
    files = {**HOUSES, "houses/ezra.yaml": b"changed: true\n", "configs/new.yaml": b"b: 2\n"}
    del files["houses/allegro.yaml"]
    change = installer.plan(files)
    assert change.written == ("configs/new.yaml", "houses/ezra.yaml")
    assert change.removed == ("configs/old.yaml", "houses/allegro.yaml") and change.houses and change.configs

    installer.install("s1", files, change)
    assert installer.installed() == files and installer.plan(files).paths == ()
    assert sorted(installer.restore("s1")) == sorted(change.paths)
    assert installer.installed() == before
    assert installer.plan({"configs/old.yaml": b"a: 1\n"}).paths == ()  # no houses in the commit: houses stay


def test_current_is_switched_by_rename_and_only_to_a_release(tmp_path: Path) -> None:
    releases = Releases(tmp_path, ReconcileSettings())
    (tmp_path / "releases" / "s1").mkdir(parents=True)
    (tmp_path / "releases" / "s2").mkdir()
    releases.switch("releases/s1")
    releases.switch("releases/s2")
    assert releases.current_target() == "releases/s2" and os.path.islink(tmp_path / "current")
    with pytest.raises(DeployFailed, match="no such release"):
        releases.switch("releases/s3")
    assert releases.current_target() == "releases/s2"
    assert not list(tmp_path.glob(".current*"))


async def test_a_failed_pip_install_leaves_no_release_behind(tmp_path: Path) -> None:
    settings = ReconcileSettings(wheelhouse=tmp_path / "empty-wheelhouse")
    (tmp_path / "empty-wheelhouse").mkdir()
    releases = Releases(tmp_path, settings)
    with pytest.raises(DeployFailed, match="install uni-wizard==9.9.9"):
        await releases.install("s1", "9.9.9")
    assert not (tmp_path / "releases" / "s1").exists() and not releases.is_complete("s1")


def test_a_release_built_under_umask_0077_is_usable_by_the_role_daemons(tmp_path: Path) -> None:
    tree = tmp_path / "releases" / "s1"
    (tree / "bin").mkdir(parents=True, mode=0o700)
    (tree / "bin" / "uni-wizard").write_text("#!/bin/sh\n")
    (tree / "bin" / "uni-wizard").chmod(0o700)
    (tree / "lib.py").write_text("")
    (tree / "lib.py").chmod(0o600)
    (tree / "bin" / "python").symlink_to("/nonexistent/python")
    share(tree)
    modes = {
        p.name: p.stat().st_mode & 0o777 for p in (tree, tree / "bin", tree / "bin" / "uni-wizard", tree / "lib.py")
    }
    assert modes == {"s1": 0o755, "bin": 0o755, "uni-wizard": 0o755, "lib.py": 0o644}


def test_reloading_houses_swaps_them_or_keeps_the_ones_in_force(tmp_path: Path) -> None:
    houses = tmp_path / "houses"
    shutil.copytree(ROOT / "houses", houses)
    runtime = make_runtime(tmp_path, houses_dir=houses)
    try:
        assert runtime.policy("ezra").bid_rate == 1.0
        text = (houses / "ezra.yaml").read_text().replace("bid_rate: 1.0", "bid_rate: 0.25")
        (houses / "ezra.yaml").write_text(text)
        runtime.reload_houses()
        assert runtime.policy("ezra").bid_rate == 0.25
        (houses / "ezra.yaml").write_text("name: ezra\nnonsense: 1\n")
        with pytest.raises(ConfigError):
            runtime.reload_houses()
        assert runtime.policy("ezra").bid_rate == 0.25
    finally:
        runtime.close()


def test_the_health_gate_checks_every_role_daemon_of_the_host_but_the_reconciler() -> None:
    settings = Settings(host="a", port=9999)
    host = HostEntry(name="a", url="http://10.0.0.2:8643", roles=("reconciler", "worker", "dispatcher"))
    # ports in ROLES order (dispatcher 8643, worker 8644, reconciler 8645), the urls in the host's order
    assert health_urls(settings, (), host) == ("http://10.0.0.2:8644/ready", "http://10.0.0.2:8643/ready")
    alone = HostEntry(name="a", url="http://10.0.0.2:8643", roles=("reconciler",))
    assert health_urls(settings, (), alone) == ("http://10.0.0.2:8643/ready",)
    assert health_urls(settings, (), None) == ("http://127.0.0.1:9999/ready",)
    assert health_urls(settings, ("http://x/ready",), host) == ("http://x/ready",)


def test_releases_find_wheels_in_the_wheelhouse_and_each_directory_in_it(tmp_path: Path) -> None:
    (tmp_path / "0.1.0-abc").mkdir()
    (tmp_path / "extra").mkdir()
    (tmp_path / "0.1.0-abc.tar").write_bytes(b"")
    links = Releases(tmp_path / "root", ReconcileSettings(wheelhouse=tmp_path)).find_links()
    assert links == ["--find-links", str(tmp_path), "--find-links", str(tmp_path / "0.1.0-abc"),
                     "--find-links", str(tmp_path / "extra")]  # fmt: skip
    assert Releases(tmp_path / "root", ReconcileSettings()).find_links() == []


async def test_a_push_hint_cuts_the_wait_short_and_stop_ends_the_loop() -> None:
    import asyncio
    from types import SimpleNamespace

    from prometheus_client import CollectorRegistry

    from uni_wizard.reconcile.loop import run_reconciler
    from uni_wizard.reconcile.metrics import ReconcileMetrics

    passes: list[int] = []
    wake, stop = asyncio.Event(), asyncio.Event()

    async def reconcile_once() -> SimpleNamespace:
        passes.append(1)
        if len(passes) == 2:
            stop.set()
        return SimpleNamespace(outcome="idle", sha="", number=0, reason="")

    reconciler = SimpleNamespace(
        reconcile_once=reconcile_once,
        metrics=ReconcileMetrics.for_registry(CollectorRegistry()),
        settings=ReconcileSettings(poll_seconds=3600, jitter=0),  # only the hint can bring the second pass
    )
    loop = asyncio.create_task(run_reconciler(reconciler, stop, wake))  # type: ignore[arg-type]
    while not passes:
        await asyncio.sleep(0.01)
    wake.set()
    await asyncio.wait_for(loop, timeout=30)
    assert passes == [1, 1]
