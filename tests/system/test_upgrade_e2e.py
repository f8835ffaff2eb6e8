"""Self-upgrade end to end on real systemd: two nspawn hosts deployed with pyinfra (each a worker and the
reconciler), a devforge on the bridge holding the mesh repository, upgrade PRs approved at their head sha
and merged by hand (as the upgrade queue would).

(a) a house policy change: both hosts apply it (reload, no restart), post ``uni-wizard/deploy/<host>``
    success on the merge sha, and the policy is live (the daemons' execute API now denies the tool);
(b) a package upgrade to a deliberately broken release (its daemon exits at start): both hosts install it,
    switch ``current``, fail the health gate, switch back, restart, and post failure; the sha is not retried;
(c) a package upgrade to a working release (after the re-deploy check: a deploy puts ``current`` back on its own
    release): both hosts install it in ``releases/<sha>/``, switch ``current``, restart the role daemons (which
    then report the new version), pass the health gate, post success, restart the reconciler itself last, and
    keep the previous release directory as the rollback target.

The figures of the issue's benchmark (merge → both hosts applied and healthy; merge → both rolled back) are
printed at the end of the module (``pytest -s``) and recorded in docs/BENCHMARKS.md. Needs root,
systemd-container, openssh-server, pyinfra and git; skipped elsewhere with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from deployed_mesh import SECRETS, DeployedMesh, MeshHost, deployed_mesh
from nspawn_hosts import Hosts, missing_requirements, run
from upgrade_world import REPO, Forge, break_the_daemon, build_release_wheel, forge_on, free_port

from uni_wizard.deployment.wheelhouse import build_wheelhouse

MEMBERS = (
    MeshHost("alpha", ("bezalel",), ("worker", "reconciler")),
    MeshHost("beta", ("ezra",), ("worker", "reconciler")),
)
POLL_SECONDS = 2.0
APPLY_DEADLINE = 120.0
ROLLBACK_DEADLINE = 240.0
BROKEN_VERSION = "0.1.1"  # the pin names it; its wheel is shipped beside the deploy's wheels
UPGRADED_VERSION = "0.1.2"  # a working release, shipped likewise
RESTART_DEADLINE = 30.0
EXTRA_WHEELS = "/opt/uni-wizard/wheelhouse/extra"


def _missing() -> str | None:
    if reason := missing_requirements():
        return reason
    if importlib.util.find_spec("pyinfra") is None:
        return "pyinfra is not installed"
    return None if shutil.which("git") else "git is not installed"


pytestmark = [pytest.mark.system, pytest.mark.skipif(_missing() is not None, reason=_missing() or "")]


@dataclass
class World:
    mesh: DeployedMesh
    forge: Forge
    broken_wheel: Path
    upgraded_wheel: Path
    timings: dict[str, float] = field(default_factory=dict)

    def context(self, host: str) -> str:
        return f"uni-wizard/deploy/{host}"

    async def wait_for(self, sha: str, state: str, deadline: float) -> dict[str, str]:
        """Wait until every host posted ``state`` on ``sha``; each host's description."""
        started = time.monotonic()
        latest: dict[str, tuple[str, str]] = {}
        while time.monotonic() - started < deadline:
            latest = {}
            for status in sorted(await self.forge.statuses(sha), key=lambda s: s.id):
                latest[status.context] = (str(status.status), status.description or "")
            if all(latest.get(self.context(m.name), ("", ""))[0] == state for m in MEMBERS):
                return {m.name: latest[self.context(m.name)][1] for m in MEMBERS}
            if any(posted in {"success", "failure"} - {state} for posted, _ in latest.values()):
                break  # a host ended the other way: no point in waiting out the deadline
            await asyncio.sleep(0.25)
        logs = {
            m.name: self.mesh.hosts[m.name].ssh("journalctl -u uni-wizard@reconciler -n 30 -o cat") for m in MEMBERS
        }
        raise AssertionError(f"not every host posted {state} on {sha[:12]} within {deadline:.0f} s: {latest}\n{logs}")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    wheelhouse = build_wheelhouse(REPO, tmp_path_factory.mktemp("wheelhouse"))
    broken = build_release_wheel(tmp_path_factory.mktemp("broken"), BROKEN_VERSION, break_the_daemon)
    upgraded = build_release_wheel(tmp_path_factory.mktemp("upgraded"), UPGRADED_VERSION)
    port = free_port()
    forges: list[Forge] = []
    with contextlib.ExitStack() as stack:

        def start_forge(hosts: Hosts, workdir: Path) -> None:
            forge = stack.enter_context(forge_on(workdir, f"{hosts.network}.1", port))
            for member in MEMBERS:  # each host acts as its house's forge user (statuses need write access)
                (workdir / "secrets" / member.name).mkdir(mode=0o700)
                token = workdir / "secrets" / member.name / "gitea_token"
                token.write_text(forge.token(member.houses[0]) + "\n")
                token.chmod(0o600)
            forges.append(forge)

        reconcile = {
            "repo": "mesh/fleet",
            "poll_seconds": POLL_SECONDS,
            "wheelhouse": "/opt/uni-wizard/wheelhouse",
            "health_deadline_seconds": 20,
            "health_interval_seconds": 0.25,
        }
        with deployed_mesh(
            tmp_path_factory.mktemp("mesh"),
            wheelhouse,
            MEMBERS,
            settings={"gitea_url": f"http://{{net}}.1:{port}"},
            mesh_extra={"reconcile": reconcile},
            before_deploy=start_forge,
        ) as mesh:
            assert mesh.reports[0].ok, mesh.reports[0].output[-3000:]
            made = World(mesh, forges[0], broken, upgraded, timings=dict(mesh.timings))
            yield made
            print(f"\nupgrade e2e timings: {json.dumps({k: round(v, 2) for k, v in made.timings.items()})}")


def _execute(world: World, host: str, tool: str) -> str:
    response = httpx.post(
        f"{world.mesh.url(host, 'worker')}/api/v1/execute",
        headers={"Authorization": f"Bearer {SECRETS['api_token']}"},
        json={"house": "bezalel", "tool": tool, "mode": "simple"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return str(response.json()["status"])


def _ready(world: World, host: str) -> int:
    return httpx.get(f"{world.mesh.url(host, 'worker')}/ready", timeout=10).status_code


def _version(world: World, host: str, role: str) -> str | None:
    try:
        response = httpx.get(f"{world.mesh.url(host, role)}/health", timeout=5)
    except httpx.HTTPError:
        return None
    return str(response.json().get("version")) if response.status_code == 200 else None


def _ship(world: World, wheel: Path) -> None:
    """Copy a release's wheel into every host's wheelhouse, beside the deploy's wheels."""
    for member in MEMBERS:
        host = world.mesh.hosts[member.name]
        host.ssh(f"mkdir -p {EXTRA_WHEELS}")
        run(["scp", *host.ssh_base[1:], str(wheel), f"root@{host.address}:{EXTRA_WHEELS}/"])


def test_the_deploy_points_the_daemons_at_the_reconcilers_directories(world: World) -> None:
    host = world.mesh.hosts["alpha"]
    settings = host.ssh("cat /etc/uni-wizard/worker.yaml")
    assert "houses_dir: /etc/uni-wizard/houses" in settings
    assert "mesh_config: /etc/uni-wizard/configs/mesh.yaml" in settings
    assert host.ssh("ls /etc/uni-wizard/houses").split() == ["allegro.yaml", "bezalel.yaml", "ezra.yaml", "timmy.yaml"]
    for member in MEMBERS:
        for role in member.roles:
            unit = f"uni-wizard@{role}.service"
            assert world.mesh.hosts[member.name].unit_property(unit, "ActiveState") == "active", (member, unit)


def test_an_approved_house_policy_change_is_applied_live_on_both_hosts(world: World) -> None:
    for member in MEMBERS:
        assert _execute(world, member.name, "system_info") != "denied"
    policy = (world.forge.work / "houses" / "bezalel.yaml").read_text()
    old = 'deny: ["system:service_control"]'
    assert old in policy
    changed = policy.replace(old, 'deny: ["system:service_control", "system:system_info"]')
    _, sha = asyncio.run(world.forge.upgrade({"houses/bezalel.yaml": changed}, "Bezalel may not read system_info"))
    merged = time.monotonic()
    descriptions = asyncio.run(world.wait_for(sha, "success", APPLY_DEADLINE))
    world.timings["policy_merge_to_both_applied_seconds"] = time.monotonic() - merged
    for member in MEMBERS:
        host = world.mesh.hosts[member.name]
        assert "configuration" in descriptions[member.name], descriptions
        assert "system:system_info" in host.ssh("cat /etc/uni-wizard/houses/bezalel.yaml")
        assert _execute(world, member.name, "system_info") == "denied"  # the running daemon reloaded it
        journal = host.ssh("journalctl -u uni-wizard@worker.service -o cat --no-pager")
        assert "houses reloaded" in journal, journal[-2000:]
        assert host.unit_property("uni-wizard@worker.service", "NRestarts") == "0"  # reloaded, not restarted


def test_a_broken_release_is_rolled_back_on_both_hosts(world: World) -> None:
    _ship(world, world.broken_wheel)
    previous = {m.name: world.mesh.hosts[m.name].ssh("readlink /opt/uni-wizard/current").strip() for m in MEMBERS}
    _, sha = asyncio.run(world.forge.upgrade({"uni-wizard.version": f"{BROKEN_VERSION}\n"}, "A broken release"))
    merged = time.monotonic()
    descriptions = asyncio.run(world.wait_for(sha, "failure", ROLLBACK_DEADLINE))
    world.timings["broken_merge_to_both_rolled_back_seconds"] = time.monotonic() - merged
    for member in MEMBERS:
        host = world.mesh.hosts[member.name]
        assert "rolled back to" in descriptions[member.name], descriptions
        assert "still unhealthy" not in descriptions[member.name], descriptions
        assert host.ssh("readlink /opt/uni-wizard/current").strip() == previous[member.name]
        for role in member.roles:
            assert host.unit_property(f"uni-wizard@{role}.service", "ActiveState") == "active", (member, role)
        assert _ready(world, member.name) == 200
        assert host.ssh(f"cat /opt/uni-wizard/releases/{sha}/.uni-wizard-release.json", check=False) != ""  # built
    time.sleep(3 * POLL_SECONDS)  # a few more polls: a failed sha is never applied again
    statuses = asyncio.run(world.forge.statuses(sha))
    for member in MEMBERS:
        mine = [str(s.status) for s in statuses if s.context == world.context(member.name)]
        assert sorted(mine) == ["failure", "pending"], (member.name, mine)
        state = json.loads(world.mesh.hosts[member.name].ssh("cat /opt/uni-wizard/reconcile-state.json"))
        assert sha in state["failed"] and state.get("applying") is None, state


def test_a_re_deploy_changes_nothing_and_keeps_the_applied_upgrade(world: World) -> None:
    """The reconciler owns houses/ and configs/ once seeded: the deploy does not put the old policy back."""
    again = world.mesh.deploy()
    assert again.ok and again.changed == 0, again.output[-3000:]
    for member in MEMBERS:
        assert "system:system_info" in world.mesh.hosts[member.name].ssh("cat /etc/uni-wizard/houses/bezalel.yaml")
        assert _execute(world, member.name, "system_info") == "denied"


def test_a_working_release_is_installed_and_run_on_both_hosts(world: World) -> None:
    """After the re-deploy test: a deploy switches ``current`` back to its own release (docs/OPERATIONS.md)."""
    _ship(world, world.upgraded_wheel)
    reconciler = "uni-wizard@reconciler.service"
    previous, started = {}, {}
    for member in MEMBERS:
        host = world.mesh.hosts[member.name]
        previous[member.name] = host.ssh("readlink /opt/uni-wizard/current").strip()
        started[member.name] = host.unit_property(reconciler, "ExecMainStartTimestampMonotonic")
        assert _version(world, member.name, "worker") != UPGRADED_VERSION
    _, sha = asyncio.run(world.forge.upgrade({"uni-wizard.version": f"{UPGRADED_VERSION}\n"}, "A working release"))
    merged = time.monotonic()
    descriptions = asyncio.run(world.wait_for(sha, "success", APPLY_DEADLINE))
    world.timings["package_merge_to_both_applied_seconds"] = time.monotonic() - merged
    release = f"/opt/uni-wizard/releases/{sha}"
    for member in MEMBERS:
        host = world.mesh.hosts[member.name]
        assert f"package {UPGRADED_VERSION}" in descriptions[member.name], descriptions
        assert host.ssh("readlink /opt/uni-wizard/current").strip() == f"releases/{sha}"
        mark = json.loads(host.ssh(f"cat {release}/.uni-wizard-release.json"))
        assert mark["version"] == UPGRADED_VERSION and mark["sha"] == sha, mark
        kept = f"/opt/uni-wizard/{previous[member.name]}/bin/uni-wizard"  # the rollback target stays
        assert previous[member.name] != f"releases/{sha}" and host.ssh(f"test -x {kept} && echo kept").strip() == "kept"
        for role in member.roles:
            if role != "reconciler":
                assert _version(world, member.name, role) == UPGRADED_VERSION, (member.name, role)
        # the reconciler restarts itself last (--no-block, after posting success): wait for its new process
        deadline = time.monotonic() + RESTART_DEADLINE
        while time.monotonic() < deadline:
            moved = host.unit_property(reconciler, "ExecMainStartTimestampMonotonic") != started[member.name]
            if moved and _version(world, member.name, "reconciler") == UPGRADED_VERSION:
                break
            time.sleep(0.25)
        else:
            raise AssertionError(f"{member.name}: {reconciler} not restarted on {UPGRADED_VERSION}")
        assert host.unit_property(reconciler, "ActiveState") == "active"
        assert host.unit_property(reconciler, "SubState") == "running"
        pid = host.unit_property(reconciler, "MainPID")
        cmdline = host.ssh(f"tr '\\0' ' ' < /proc/{pid}/cmdline")
        assert cmdline.startswith(f"{release}/bin/python"), cmdline  # the release venv's interpreter (shebang)
        worker_started = host.unit_property("uni-wizard@worker.service", "ExecMainStartTimestampMonotonic")
        assert int(host.unit_property(reconciler, "ExecMainStartTimestampMonotonic")) > int(worker_started)
        state = json.loads(host.ssh("cat /opt/uni-wizard/reconcile-state.json"))
        assert state.get("applying") is None and sha in state["applied"], state


def test_the_logs_show_no_unexpected_failure(world: World) -> None:
    for member in MEMBERS:
        journal = world.mesh.hosts[member.name].ssh("journalctl -u uni-wizard@reconciler.service -o cat --no-pager")
        assert "ROLLBACK FAILED" not in journal and "Traceback" not in journal, journal[-3000:]
