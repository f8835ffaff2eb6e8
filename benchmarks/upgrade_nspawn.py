"""Self-upgrade on two real systemd hosts: merge → both hosts applied and healthy, merge → both rolled back.

    sudo .venv/bin/python benchmarks/upgrade_nspawn.py [--runs 5] [--rollbacks 2] [--seed 1]

Boots two systemd-nspawn hosts from this machine's root and deploys them once with pyinfra, as
tests/system/test_upgrade_e2e.py does (each host runs a worker and the reconciler; a devforge on the bridge
holds the mesh repository ``mesh/fleet``; no push webhook, so the reconcilers only poll). Then, over the same
hosts and forge:

- baseline (``--runs`` times): a plain PR (not an upgrade: no ``upgrade`` label, no approval) merged → both
  hosts' reconcilers fetched the merge commit into their git cache (``refs/mesh/main`` of
  ``/opt/uni-wizard/mesh.git``), i.e. each host's next reconcile pass has looked at the forge. That is the
  cost of noticing a merge with the configured poll, and nothing else.
- ``--runs`` house policy upgrades (approved at the head sha, labelled, merged) → both hosts posted
  ``uni-wizard/deploy/<host>`` success (configuration validated and installed, ``systemctl reload``, /ready
  200). The policy alternates, so every run is a real change.
- ``--rollbacks`` package upgrades to a deliberately broken release (its daemon exits at start) → both hosts
  posted failure after switching ``current`` back (checked) and restarting.

Before every merge the script sleeps a random time in [0, poll * (1 + jitter)] so merges land at a random
phase of the hosts' poll loops. The clock starts when the merge API call (and the read of the merged PR)
returned. The ratio column is a row's median over the baseline's median: how many "merge noticed" latencies
the operation costs. Hosts are torn down on every exit (exceptions, Ctrl-C, SIGTERM). Needs root,
systemd-container, openssh-server, pyinfra and git. Prints Markdown with the command.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "system"))

from deployed_mesh import DeployedMesh, MeshHost, deployed_mesh  # noqa: E402
from nspawn_hosts import Hosts, missing_requirements, run  # noqa: E402
from upgrade_world import NAME, ORG, Forge, break_the_daemon, build_release_wheel, forge_on, free_port  # noqa: E402

from uni_wizard.deployment.wheelhouse import build_wheelhouse  # noqa: E402
from uni_wizard.testing import git_as as git  # noqa: E402

MEMBERS = (
    MeshHost("alpha", ("bezalel",), ("worker", "reconciler")),
    MeshHost("beta", ("ezra",), ("worker", "reconciler")),
)
POLL_SECONDS = 2.0  # as the system test; the shipped default is 30
JITTER = 0.2  # the shipped default
HEALTH_DEADLINE = 20.0
PROBE_PAUSE = 0.05
NOTICE_DEADLINE = 60.0
APPLY_DEADLINE = 120.0
ROLLBACK_DEADLINE = 240.0
BROKEN_VERSION = "0.1.1"
EXTRA_WHEELS = "/opt/uni-wizard/wheelhouse/extra"
WATCH_PAUSE = 0.05
WATCH = (  # the tip of main in the reconciler's git cache, printed when it changes
    "prev=; while :; do tip=$(git -c safe.directory='*' --git-dir=/opt/uni-wizard/mesh.git rev-parse -q --verify "
    f'refs/mesh/main 2>/dev/null); if [ "$tip" != "$prev" ]; then echo "$tip"; prev=$tip; fi; sleep {WATCH_PAUSE}; done'
)
OLD_DENY = 'deny: ["system:service_control"]'
NEW_DENY = 'deny: ["system:service_control", "system:system_info"]'


class Bench:
    def __init__(self, mesh: DeployedMesh, forge: Forge, rng: random.Random) -> None:
        self.mesh = mesh
        self.forge = forge
        self.rng = rng
        self.probe_rounds: list[float] = []  # one read of the forge's statuses
        self.watchers: list[subprocess.Popen[str]] = []
        self.fetched: dict[tuple[str, str], float] = {}  # (host, sha) -> when its cache first had it
        self.lock = threading.Lock()

    def open(self) -> None:
        """One watcher per host: a shell loop over SSH printing the cache's tip whenever it changes (every
        WATCH_PAUSE s); a thread stamps each line with this process's clock on arrival."""
        for member in MEMBERS:
            host = self.mesh.hosts[member.name]
            argv = [*host.ssh_base, f"root@{host.address}", WATCH]
            watcher = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True, bufsize=1)
            self.watchers.append(watcher)
            thread = threading.Thread(target=self._read, args=(member.name, watcher), daemon=True)
            thread.start()

    def _read(self, name: str, watcher: subprocess.Popen[str]) -> None:
        assert watcher.stdout is not None
        for line in watcher.stdout:
            with self.lock:
                self.fetched.setdefault((name, line.strip()), time.monotonic())

    def close(self) -> None:
        for watcher in self.watchers:  # only the SSH clients this script started
            watcher.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                watcher.wait(timeout=5)
            if watcher.poll() is None:
                watcher.kill()

    def _random_phase(self) -> None:
        time.sleep(self.rng.uniform(0, POLL_SECONDS * (1 + JITTER)))

    async def plain_merge(self, files: dict[str, str], title: str) -> str:
        """A PR that is not an upgrade (no label, no approval) merged by timmy: the merge commit sha."""
        branch = f"plain-{uuid.uuid4().hex[:6]}"
        head = self.forge.push(branch, files, title)
        async with self.forge.client("bezalel") as bezalel, self.forge.client("timmy") as timmy:
            pr = await bezalel.create_pull(ORG, NAME, head=branch, base="main", title=title)
            for _ in range(100):
                if (await timmy.get_pull(ORG, NAME, pr.number)).mergeable:
                    break
                await asyncio.sleep(0.05)
            await timmy.merge_pull(ORG, NAME, pr.number, head_commit_id=head)
            merged = await timmy.get_pull(ORG, NAME, pr.number)
        assert merged.merged and merged.merge_commit_sha
        return merged.merge_commit_sha

    def baseline(self, index: int) -> float:
        self._random_phase()
        sha = asyncio.run(self.plain_merge({f"notes/bench-{index}.txt": f"{uuid.uuid4()}\n"}, f"A note {index}"))
        merged = time.monotonic()
        while True:
            with self.lock:
                seen = [self.fetched.get((m.name, sha)) for m in MEMBERS]
            if all(t is not None for t in seen):
                return max(t for t in seen if t is not None) - merged
            assert time.monotonic() - merged < NOTICE_DEADLINE, f"not every host fetched {sha[:12]}: {seen}"
            time.sleep(WATCH_PAUSE)

    async def wait_for(self, sha: str, state: str, deadline: float) -> dict[str, str]:
        """Wait until every host posted ``state`` on ``sha``; each host's description."""
        started = time.monotonic()
        latest: dict[str, tuple[str, str]] = {}
        while time.monotonic() - started < deadline:
            began = time.monotonic()
            latest = {}
            for status in sorted(await self.forge.statuses(sha), key=lambda s: s.id):
                latest[status.context] = (str(status.status), status.description or "")
            self.probe_rounds.append(time.monotonic() - began)
            contexts = {m.name: f"uni-wizard/deploy/{m.name}" for m in MEMBERS}
            if all(latest.get(c, ("", ""))[0] == state for c in contexts.values()):
                return {name: latest[c][1] for name, c in contexts.items()}
            await asyncio.sleep(PROBE_PAUSE)
        raise AssertionError(f"not every host posted {state} on {sha[:12]} within {deadline:.0f} s: {latest}")

    def policy(self, index: int) -> float:
        git("fetch", "-q", "origin", cwd=self.forge.work)
        text = git("show", "origin/main:houses/bezalel.yaml", cwd=self.forge.work) + "\n"
        old, new = (OLD_DENY, NEW_DENY) if OLD_DENY in text else (NEW_DENY, OLD_DENY)
        assert old in text, text
        self._random_phase()
        _, sha = asyncio.run(self.forge.upgrade({"houses/bezalel.yaml": text.replace(old, new)}, f"Policy {index}"))
        merged = time.monotonic()
        descriptions = asyncio.run(self.wait_for(sha, "success", APPLY_DEADLINE))
        took = time.monotonic() - merged
        for name, description in descriptions.items():
            assert "configuration" in description, (name, description)
            installed = self.mesh.hosts[name].ssh("cat /etc/uni-wizard/houses/bezalel.yaml")
            assert new in installed and old not in installed, (name, installed)
        return took

    def rollback(self, index: int) -> float:
        previous = {m.name: self.mesh.hosts[m.name].ssh("readlink /opt/uni-wizard/current").strip() for m in MEMBERS}
        pin = f"{BROKEN_VERSION}\n# broken release, rollback {index}\n"  # a new pin text: a new package change
        self._random_phase()
        _, sha = asyncio.run(self.forge.upgrade({"uni-wizard.version": pin}, f"A broken release {index}"))
        merged = time.monotonic()
        descriptions = asyncio.run(self.wait_for(sha, "failure", ROLLBACK_DEADLINE))
        took = time.monotonic() - merged
        for name, description in descriptions.items():
            assert "rolled back to" in description and "still unhealthy" not in description, (name, description)
            now = self.mesh.hosts[name].ssh("readlink /opt/uni-wizard/current").strip()
            assert now == previous[name], (name, now, previous[name])
            state = self.mesh.hosts[name].unit_property("uni-wizard@worker.service", "ActiveState")
            assert state == "active", (name, state)
        return took


def _missing() -> str | None:
    if reason := missing_requirements():
        return reason
    if importlib.util.find_spec("pyinfra") is None:
        return "pyinfra is not installed"
    return None if shutil.which("git") else "git is not installed"


def _terminate(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(f"signal {signum}: tearing the hosts down")  # unwinds the context managers


@contextlib.contextmanager
def world(tmp: Path) -> Iterator[tuple[DeployedMesh, Forge, dict[str, float]]]:
    setup: dict[str, float] = {}
    started = time.monotonic()
    wheelhouse = build_wheelhouse(REPO, tmp / "wheelhouse")
    setup["wheelhouse_seconds"] = time.monotonic() - started
    started = time.monotonic()
    broken = build_release_wheel(tmp / "broken", BROKEN_VERSION, break_the_daemon)
    setup["broken_wheel_seconds"] = time.monotonic() - started
    port = free_port()
    forges: list[Forge] = []
    with contextlib.ExitStack() as stack:

        def start_forge(hosts: Hosts, workdir: Path) -> None:
            forge = stack.enter_context(forge_on(workdir, f"{hosts.network}.1", port))
            for member in MEMBERS:
                (workdir / "secrets" / member.name).mkdir(mode=0o700)
                token = workdir / "secrets" / member.name / "gitea_token"
                token.write_text(forge.token(member.houses[0]) + "\n")
                token.chmod(0o600)
            forges.append(forge)

        reconcile = {
            "repo": f"{ORG}/{NAME}",
            "poll_seconds": POLL_SECONDS,
            "jitter": JITTER,
            "wheelhouse": "/opt/uni-wizard/wheelhouse",
            "health_deadline_seconds": HEALTH_DEADLINE,
            "health_interval_seconds": 0.25,
        }
        mesh = stack.enter_context(
            deployed_mesh(
                tmp / "mesh",
                wheelhouse,
                MEMBERS,
                settings={"gitea_url": f"http://{{net}}.1:{port}"},
                mesh_extra={"reconcile": reconcile},
                before_deploy=start_forge,
            )
        )
        assert mesh.reports[0].ok, mesh.reports[0].output[-3000:]
        setup["boot_seconds"] = mesh.timings["boot_seconds"]
        setup["deploy_seconds"] = mesh.timings["deploy_1_seconds"]
        for member in MEMBERS:  # the broken release's wheel, beside the deploy's wheels
            host = mesh.hosts[member.name]
            host.ssh(f"mkdir -p {EXTRA_WHEELS}")
            run(["scp", *host.ssh_base[1:], str(broken), f"root@{host.address}:{EXTRA_WHEELS}/"])
        yield mesh, forges[0], setup
        started = time.monotonic()
    setup["teardown_seconds"] = time.monotonic() - started


def _row(name: str, values: list[float], base: float) -> str:
    med = statistics.median(values)
    each = ", ".join(f"{v:.2f}" for v in values)
    return f"| {name} | {len(values)} | {med:.2f} | {min(values):.2f} | {max(values):.2f} | {med / base:.2f} | {each} |"


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="baseline merges and house policy upgrades")
    parser.add_argument("--rollbacks", type=int, default=2, help="broken-release upgrades")
    parser.add_argument("--seed", type=int, default=1, help="seed of the random merge phase")
    args = parser.parse_args()
    if missing := _missing():
        print(f"cannot run: {missing}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    baseline: list[float] = []
    applied: list[float] = []
    rolled: list[float] = []
    with tempfile.TemporaryDirectory(prefix="uw-upgrade-bench-") as tmp, world(Path(tmp)) as (mesh, forge, setup):
        bench = Bench(mesh, forge, random.Random(args.seed))
        try:
            bench.open()  # before any clock runs
            for index in range(args.runs):  # interleaved: the baseline and the row see the same hosts' state
                baseline.append(bench.baseline(index))
                applied.append(bench.policy(index))
            for index in range(args.rollbacks):  # last: the broken pin stays on main
                rolled.append(bench.rollback(index))
        finally:
            bench.close()
    base = statistics.median(baseline)
    command = "sudo .venv/bin/python benchmarks/upgrade_nspawn.py"
    flags = f" --runs {args.runs} --rollbacks {args.rollbacks} --seed {args.seed}"
    status_ms = statistics.median(bench.probe_rounds) * 1000
    print(f"`{command}{flags}` ({os.cpu_count()} cores)\n")
    print(
        f"Settings: `reconcile.poll_seconds: {POLL_SECONDS:g}` (shipped: 30), `jitter: {JITTER:g}`, "
        f"`health_deadline_seconds: {HEALTH_DEADLINE:g}`, `health_interval_seconds: 0.25`, no push webhook; "
        f"statuses read from the forge every {PROBE_PAUSE:g} s + one read (median {status_ms:.0f} ms); each host's git "
        f"cache watched on the host every {WATCH_PAUSE:g} s, streamed over SSH.\n"
    )
    print("| merge of … → both hosts … | n | p50 s | min s | max s | p50 / baseline p50 | each run s |")
    print("|---|---|---|---|---|---|---|")
    print(_row("baseline: a plain PR (not an upgrade) → fetched it (next reconcile pass)", baseline, base))
    print(_row("house policy upgrade → applied, /ready 200, posted success", applied, base))
    if rolled:
        print(_row("broken release → installed, failed, `current` switched back, posted failure", rolled, base))
    print(
        f"\nOnce per run: wheelhouse {setup['wheelhouse_seconds']:.1f} s, broken wheel "
        f"{setup['broken_wheel_seconds']:.1f} s, two hosts booted {setup['boot_seconds']:.1f} s, first deploy "
        f"{setup['deploy_seconds']:.1f} s, teardown {setup['teardown_seconds']:.1f} s."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
