"""``uni-wizard deploy``: build (or take) the wheelhouse, then run pyinfra with deploy/inventory.py and
deploy/deploy.py, and read pyinfra's result table (changed, unchanged, errors)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError, DeployFailed
from .inventory import load_inventory, plan_hosts
from .syncthing_tunnel import run_syncthing_setup, syncthing_plan
from .wheelhouse import pack_wheelhouse, release_name

__all__ = [
    "DeployReport",
    "parse_proposed",
    "parse_totals",
    "pyinfra_argv",
    "pyinfra_hosts",
    "run_deploy",
    "shipped_dir",
]

PACKAGE_DIR = Path(__file__).resolve().parent.parent
DEPLOY_TIMEOUT = 1800.0
_ANSI = re.compile(r"\x1b\[[0-9;]*m")

Runner = Callable[..., "subprocess.CompletedProcess[str]"]


def shipped_dir(name: str) -> Path:
    """``deploy`` or ``systemd`` as shipped: inside the wheel (``_defaults``) or the repository's top level."""
    for candidate in (PACKAGE_DIR / "_defaults" / name, PACKAGE_DIR.parent / name):
        if candidate.is_dir():
            return candidate
    raise DeployFailed(f"the {name}/ directory is neither in the installed package nor beside it")


def pyinfra_hosts(
    inventory_path: Path, wheelhouse: Path, wheelhouse_tar: Path | None = None, *, dry: bool = False
) -> list[tuple[str, dict[str, Any]]]:
    """The pyinfra inventory: ``(host name, host data)`` for every host of the mesh (``uw_dry``: a dry run,
    which plans without the secrets a real run needs)."""
    inventory = load_inventory(inventory_path)
    plans = plan_hosts(inventory, source=str(inventory_path))
    common = {
        "uw_dry": dry,
        "uw_wheelhouse_tar": str(wheelhouse_tar or ""),
        "uw_release": release_name(wheelhouse),
        "uw_python": inventory.python,
        "uw_units_dir": str(shipped_dir("systemd")),
    }
    return [(plan.name, {**plan.pyinfra_data(), **common}) for plan in plans]


@dataclass(frozen=True)
class DeployReport:
    """What pyinfra did: operations (times hosts) that changed something, that changed nothing, that failed.
    After ``--dry``: what would change, and ``conditional``: what would change only if an earlier one did."""

    returncode: int
    changed: int
    unchanged: int
    errors: int
    output: str
    conditional: int = 0
    syncthing: tuple[str, ...] = ()  # the pairing's summary, one line per host (empty: no syncthing section)

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and self.errors == 0


def parse_totals(output: str) -> tuple[int, int, int]:
    """``(changed, unchanged, errors)`` from pyinfra's ``Grand total`` row (``-`` is zero)."""
    for line in reversed(_ANSI.sub("", output).splitlines()):
        fields = line.split()
        if fields[:2] == ["Grand", "total"] and len(fields) == 6:
            _hosts, success, error, no_change = (0 if f == "-" else int(f) for f in fields[2:])
            return success, no_change, error
    raise DeployFailed(f"pyinfra printed no result table:\n{output[-3000:]}")


def parse_proposed(output: str) -> tuple[int, int, int]:
    """``(would change, might change, would not)`` from the table a ``--dry`` run prints: per operation the
    hosts it changes and the hosts it changes only if its condition holds (``_if``: e.g. restart when the
    configuration changed); a cell is ``-`` or ``N (hosts)``."""
    rows: list[list[str]] = []
    for line in _ANSI.sub("", output).splitlines():
        cells = re.split(r"\s{2,}", line.strip())
        if cells[:3] == ["Operation", "Change", "Conditional Change"]:
            rows = []
        elif len(cells) == 3 and all(re.fullmatch(r"-|\d+ \(.*\)", c) for c in cells[1:]):
            rows.append(cells)
    if not rows:
        raise DeployFailed(f"pyinfra printed no proposed changes:\n{output[-3000:]}")
    hosts = [[0 if cell == "-" else int(cell.split()[0]) for cell in row[1:]] for row in rows]
    return sum(h[0] for h in hosts), sum(h[1] for h in hosts), sum(1 for h in hosts if h == [0, 0])


def pyinfra_argv(*, dry: bool, python: str = sys.executable) -> list[str]:
    deploy = shipped_dir("deploy")
    argv = [python, "-m", "pyinfra", str(deploy / "inventory.py"), str(deploy / "deploy.py")]
    # --dry shows what would change; a real run needs -y (no confirmation prompt without a terminal)
    return [*argv, "--dry"] if dry else [*argv, "-y"]


def run_deploy(
    inventory_path: Path,
    wheelhouse: Path,
    *,
    dry: bool = False,
    timeout: float = DEPLOY_TIMEOUT,
    runner: Runner = subprocess.run,
) -> DeployReport:
    """Run pyinfra over every host of the inventory's mesh, then (when the mesh has a ``syncthing`` section)
    pair the hosts' Syncthing instances over their REST APIs. Raises DeployFailed when either fails, and
    ConfigError (before anything connects) for a configuration mistake, a missing secret included; a dry run
    needs no secret file and says what a real run would miss (``DeployReport.syncthing``)."""
    pyinfra_hosts(inventory_path, wheelhouse)  # configuration errors surface here, before SSH
    missing = _check_syncthing(inventory_path, dry=dry)  # and the Syncthing section's (folder path, API keys)
    env = dict(os.environ, UNIWIZARD_INVENTORY=str(inventory_path.resolve()), UNIWIZARD_WHEELHOUSE=str(wheelhouse))
    if dry:
        env["UNIWIZARD_DEPLOY_DRY"] = "1"
    with tempfile.TemporaryDirectory(prefix="uni-wizard-deploy-") as tmp:
        env["UNIWIZARD_WHEELHOUSE_TAR"] = str(pack_wheelhouse(wheelhouse, Path(tmp)))
        try:
            done = runner(
                pyinfra_argv(dry=dry),
                env=env,
                cwd=str(shipped_dir("deploy")),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise DeployFailed(f"pyinfra did not finish within {timeout:.0f} s") from exc
    output = done.stdout + done.stderr
    if done.returncode != 0:
        raise DeployFailed(f"pyinfra failed ({done.returncode}):\n{_ANSI.sub('', output)[-4000:]}")
    paired = (missing,) if missing else tuple(_pair_syncthing(inventory_path, dry=dry))
    if dry:
        changed, conditional, unchanged = parse_proposed(output)
        return DeployReport(done.returncode, changed, unchanged, 0, _ANSI.sub("", output), conditional, paired)
    changed, unchanged, errors = parse_totals(output)
    return DeployReport(done.returncode, changed, unchanged, errors, _ANSI.sub("", output), syncthing=paired)


def _check_syncthing(inventory_path: Path, *, dry: bool) -> str | None:
    """The Syncthing section checked before anything connects (``syncthing_plan``): its ``ConfigError`` stops a
    real deploy; a dry run goes on and gets it back as the line to show (None: nothing is missing)."""
    try:
        syncthing_plan(inventory_path)
    except ConfigError as exc:
        if not dry:
            raise
        return f"not paired in a dry run: {exc} (a real deploy stops here)"
    return None


def _pair_syncthing(inventory_path: Path, *, dry: bool) -> list[str]:
    """Phase 2 of the Syncthing setup (phase 1 is deploy/syncthing.py): the hosts paired over the REST API.
    A dry run before the first deploy finds no Syncthing to ask, and says so instead of failing."""
    try:
        return run_syncthing_setup(inventory_path, dry=dry) or []
    except DeployFailed as exc:
        if not dry:
            raise
        return [f"not reachable yet (first deploy?): {exc}"]
