"""`uni-wizard deploy` to two real systemd hosts: boot, first deploy, idempotent re-run, dry run.

    sudo .venv/bin/python benchmarks/deploy_nspawn.py [--runs 1]

Each run boots two systemd-nspawn containers from this machine's root (tests/system/nspawn_hosts.py:
read-only root, tmpfs overlay, a network namespace each, sshd), deploys the mesh of the system test
(alpha: dispatcher + worker, beta: reviewer) with pyinfra over SSH, deploys again (must change nothing),
runs `--dry`, then tears everything down. The baseline, measured in the same run against the same hosts,
is pyinfra running one `true` per host: the fixed cost of connecting and of pyinfra itself. Needs root,
systemd-container, openssh-server and pyinfra. Prints Markdown with the command.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "system"))

from deployed_mesh import MeshHost, deployed_mesh  # noqa: E402
from nspawn_hosts import missing_requirements  # noqa: E402

from uni_wizard.deployment.wheelhouse import build_wheelhouse  # noqa: E402

MEMBERS = (
    MeshHost("alpha", ("bezalel",), ("dispatcher", "worker")),
    MeshHost("beta", ("timmy",), ("reviewer",)),
)
BASELINE_DEPLOY = "from pyinfra.operations import server\nserver.shell(name='true', commands=['true'])\n"


def baseline_seconds(inventory: Path, wheelhouse: Path, workdir: Path) -> float:
    deploy = workdir / "baseline_deploy.py"
    deploy.write_text(BASELINE_DEPLOY)
    env = dict(os.environ, UNIWIZARD_INVENTORY=str(inventory), UNIWIZARD_WHEELHOUSE=str(wheelhouse))
    env["UNIWIZARD_WHEELHOUSE_TAR"] = str(workdir / "unused.tar")  # the baseline ships nothing
    argv = [sys.executable, "-m", "pyinfra", str(REPO / "deploy" / "inventory.py"), str(deploy), "-y"]
    started = time.monotonic()
    subprocess.run(argv, env=env, cwd=workdir, stdin=subprocess.DEVNULL, capture_output=True, timeout=600, check=True)
    return time.monotonic() - started


def one_run(workdir: Path, wheelhouse: Path) -> dict[str, float]:
    with deployed_mesh(workdir, wheelhouse, MEMBERS) as mesh:
        first = mesh.reports[0]
        again = mesh.deploy()
        assert again.changed == 0, again.output
        started = time.monotonic()
        mesh.deploy(dry=True)
        mesh.timings["dry_seconds"] = time.monotonic() - started
        mesh.timings["baseline_seconds"] = baseline_seconds(mesh.inventory, wheelhouse, workdir)
        mesh.timings["ops_first"] = float(first.changed + first.unchanged)
        started = time.monotonic()
    mesh.timings["teardown_seconds"] = time.monotonic() - started
    return mesh.timings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    missing = missing_requirements()
    if missing:
        print(f"cannot run: {missing}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="uw-deploy-bench-") as tmp:
        started = time.monotonic()
        wheelhouse = build_wheelhouse(REPO, Path(tmp) / "wheelhouse")
        wheelhouse_seconds = time.monotonic() - started
        runs = [one_run(Path(tmp) / f"run{i}", wheelhouse) for i in range(args.runs)]
    rows = [
        ("wheelhouse built (pip wheel, pinned)", [wheelhouse_seconds]),
        ("two hosts booted, SSH up", [r["boot_seconds"] for r in runs]),
        ("baseline: pyinfra, one `true` per host", [r["baseline_seconds"] for r in runs]),
        ("first deploy (both hosts)", [r["deploy_1_seconds"] for r in runs]),
        ("second deploy (no change)", [r["deploy_2_seconds"] for r in runs]),
        ("dry run", [r["dry_seconds"] for r in runs]),
        ("teardown", [r["teardown_seconds"] for r in runs]),
    ]
    base = statistics.median(r["baseline_seconds"] for r in runs)
    print(f"`sudo .venv/bin/python benchmarks/deploy_nspawn.py --runs {args.runs}` ({os.cpu_count()} cores)\n")
    print("| step | median s | min s | max s | / baseline |")
    print("|---|---|---|---|---|")
    for name, values in rows:
        med = statistics.median(values)
        print(f"| {name} | {med:.1f} | {min(values):.1f} | {max(values):.1f} | {med / base:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
