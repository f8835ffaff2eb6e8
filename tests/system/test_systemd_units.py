"""The shipped units: `systemd-analyze verify` prints nothing and `security --offline` rates every role's unit
at most 2.0, the worker's and the reviewer's at most 2.3 (their sandbox.conf drop-in lets bubblewrap create its
namespaces and mounts: docs/ARCHITECTURE.md, "The sandbox"); the daemon leaves on SIGTERM in under a second.

The units are checked under a throw-away root (``--root``): the machine's own system units plus ours, and a
stand-in for ``/opt/uni-wizard/current/bin/uni-wizard`` (verify insists that ExecStart exists).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from uni_wizard.deployment.layout import CURRENT, UNIT_DIR
from uni_wizard.meshfile.schema import ROLES

REPO = Path(__file__).resolve().parents[2]
UNITS = REPO / "systemd"
MAX_EXPOSURE = 2.0
# the roles that run repository code in the bubblewrap sandbox, and their bound (justified in docs/ARCHITECTURE.md)
SANDBOX_ROLES = ("worker", "reviewer")
MAX_SANDBOX_EXPOSURE = 2.3
needs_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None or not Path("/usr/lib/systemd/system").is_dir(),
    reason="systemd-analyze and the system units are not installed (Debian package systemd)",
)
pytestmark = pytest.mark.system


def make_root(root: Path, units: Path = UNITS) -> Path:
    (root / "usr/lib/systemd").mkdir(parents=True)
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    shutil.copytree(units, root / str(UNIT_DIR).lstrip("/"), dirs_exist_ok=True)
    for binary in (root / str(CURRENT).lstrip("/") / "bin" / "uni-wizard", root / "bin" / "kill"):
        binary.parent.mkdir(parents=True)
        binary.write_text("#!/bin/sh\n")
        binary.chmod(0o755)
    return root


def verify(root: Path, unit: str) -> tuple[int, str]:
    done = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", f"--root={root}", unit],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.returncode, (done.stdout + done.stderr).strip()


def exposure(root: Path, unit: str) -> float:
    done = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", f"--root={root}", "--no-pager", unit],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    found = re.search(rf"Overall exposure level for {re.escape(unit)}: (\d+\.\d+)", done.stdout)
    assert found, f"no overall exposure in:\n{done.stdout}\n{done.stderr}"
    return float(found.group(1))


@pytest.fixture(scope="module")
def unit_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_root(tmp_path_factory.mktemp("units"))


@needs_analyze
@pytest.mark.parametrize("unit", [f"uni-wizard@{role}.service" for role in ROLES] + ["uni-wizard.target"])
def test_verify_prints_nothing(unit_root: Path, unit: str) -> None:
    assert verify(unit_root, unit) == (0, "")


@needs_analyze
@pytest.mark.parametrize("role", ROLES)
def test_exposure_is_at_most_two(unit_root: Path, role: str) -> None:
    bound = MAX_SANDBOX_EXPOSURE if role in SANDBOX_ROLES else MAX_EXPOSURE
    assert exposure(unit_root, f"uni-wizard@{role}.service") <= bound


@needs_analyze
def test_the_reconciler_drop_in_is_applied(unit_root: Path) -> None:
    # it runs as root (to restart units through systemd): rated worse than the dispatcher, still within the bound
    assert exposure(unit_root, "uni-wizard@reconciler.service") > exposure(unit_root, "uni-wizard@dispatcher.service")


@needs_analyze
def test_the_sandbox_drop_in_is_applied_to_the_roles_that_run_repository_code_only(unit_root: Path) -> None:
    texts = {role: (UNITS / f"uni-wizard@{role}.service.d" / "sandbox.conf").read_text() for role in SANDBOX_ROLES}
    assert len(set(texts.values())) == 1  # one content for both roles
    dispatcher = exposure(unit_root, "uni-wizard@dispatcher.service")
    for role in SANDBOX_ROLES:
        assert exposure(unit_root, f"uni-wizard@{role}.service") > dispatcher
    for role in set(ROLES) - set(SANDBOX_ROLES):
        assert not (UNITS / f"uni-wizard@{role}.service.d" / "sandbox.conf").exists()


@needs_analyze
def test_the_checks_can_fail(tmp_path: Path) -> None:
    """The gates are real: a typo is reported (rc 0, a warning only), and a unit without hardening rates high."""
    units = tmp_path / "units"
    shutil.copytree(UNITS, units)
    template = units / "uni-wizard@.service"
    text = template.read_text()
    template.write_text(text.replace("RestartSec=2s", "Restrt=2s"))
    root = make_root(tmp_path / "typo", units)
    code, output = verify(root, "uni-wizard@worker.service")
    assert code == 0 and "Restrt" in output  # only a warning: the exit code alone would miss it
    bare = "\n".join(line for line in text.splitlines() if not line.startswith(("Protect", "Restrict", "SystemCall")))
    template.write_text(bare.replace("CapabilityBoundingSet=\n", "").replace("NoNewPrivileges=yes", ""))
    root = make_root(tmp_path / "bare", units)
    assert exposure(root, "uni-wizard@worker.service") > MAX_EXPOSURE


def test_sigterm_stops_the_daemon_in_under_a_second(tmp_path: Path) -> None:
    """The issue's bound, measured from SIGTERM to the process's exit (it usually takes about 0.1 s)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify.sock"))
    sock.settimeout(30)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UNIWIZARD_", "WATCHDOG_"))}
    env |= {"NOTIFY_SOCKET": str(tmp_path / "notify.sock"), "UNIWIZARD_DATA_DIR": str(tmp_path / "data")}
    argv = [str(Path(sys.executable).parent / "uni-wizard"), "serve", "--port", "0"]
    with (tmp_path / "daemon.log").open("wb") as log:
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        while b"READY=1" not in sock.recv(4096):
            pass
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
        elapsed = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        sock.close()
    assert code == 0, (tmp_path / "daemon.log").read_text()
    assert elapsed < 1.0, f"SIGTERM took {elapsed:.2f} s"
