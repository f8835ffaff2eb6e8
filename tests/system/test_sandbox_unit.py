"""run_tests under the real unit: a systemd-nspawn host booted from this machine's root (nspawn_hosts.py), the
shipped template and sandbox.conf drop-ins, the daemon's user, and tests/integration/sandbox_probe.py in place of
the daemon (a oneshot override of ExecStart; every hardening line of the unit stays, and the role's drop-ins).

With the drop-in (worker, reviewer) the sandboxed run passes and keeps its promises: the daemon's own unprivileged
uid inside a user namespace, the allowlisted environment, no token, no network, the clone untouched, processes
bounded. Without it (the dispatcher's unit, hardened as the template ships) run_tests fails closed and says what
to do. Needs root, systemd-container, openssh-server, bubblewrap, and a /usr/bin/python3 of the test venv's
version (the probe imports this checkout and the venv's packages, bound read-only into the unit).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from nspawn_hosts import Host, boot_hosts, missing_requirements

REPO = Path(__file__).resolve().parents[2]
UNITS = REPO / "systemd"
PURELIB = Path(sysconfig.get_paths()["purelib"])
TOKEN = f"tok-{uuid.uuid4().hex}"
ALLOWLIST = ["CI", "HOME", "LANG", "LC_ALL", "PATH", "PWD", "PYTHONDONTWRITEBYTECODE", "TMPDIR"]


def _missing() -> str | None:
    reason = missing_requirements()
    if reason:
        return reason
    if shutil.which("bwrap") is None:
        return "bubblewrap is not installed (Debian package bubblewrap)"
    version = subprocess.run(
        ["/usr/bin/python3", "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True
    )
    if version.returncode != 0 or version.stdout.strip() != str(sys.version_info[:2]):
        return f"/usr/bin/python3 is not Python {sys.version_info[:2]} (the probe imports this venv's packages)"
    for path in (REPO, PURELIB):
        if path.stat().st_mode & 0o005 != 0o005:
            return f"{path} is not readable by other users (the unit's user reads it)"
    return None


_reason = _missing()
pytestmark = [pytest.mark.system, pytest.mark.skipif(_reason is not None, reason=_reason or "")]


def put(host: Host, path: str, text: str) -> None:
    argv = [*host.ssh_base, f"root@{host.address}", f"mkdir -p {Path(path).parent} && cat > {path}"]
    subprocess.run(argv, input=text, text=True, capture_output=True, timeout=60, check=True)


def probe_dropin(role: str) -> str:
    """Run the probe instead of the daemon; the template's hardening and the role's drop-ins stay."""
    return "\n".join(
        [
            "[Service]",
            "Type=oneshot",
            "ExecStart=",
            f"ExecStart=/usr/bin/python3 /opt/uwtest/repo/tests/integration/sandbox_probe.py /var/lib/uni-wizard/{role}",
            "ExecReload=",
            "WatchdogSec=0",
            "Restart=no",
            "LoadCredential=",  # no /etc/uni-wizard/secrets in the container
            f"Environment=PYTHONPATH=/opt/uwtest/repo:/opt/uwtest/purelib UNIWIZARD_GITEA_TOKEN={TOKEN}",
            "",
        ]
    )


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Host]:
    binds = [(REPO, "/opt/uwtest/repo"), (PURELIB, "/opt/uwtest/purelib")]  # the checkout may be under /tmp
    with boot_hosts(tmp_path_factory.mktemp("sandbox-unit"), ["sandbox"], binds=binds) as hosts:
        box = hosts["sandbox"]
        box.ssh(
            "id -u uni-wizard || useradd --system --home-dir /var/lib/uni-wizard --shell /usr/sbin/nologin uni-wizard"
        )
        put(box, "/etc/systemd/system/uni-wizard@.service", (UNITS / "uni-wizard@.service").read_text())
        for dropin in sorted(UNITS.glob("uni-wizard@*.service.d/*.conf")):
            put(box, f"/etc/systemd/system/{dropin.parent.name}/{dropin.name}", dropin.read_text())
        for role in ("worker", "reviewer", "dispatcher"):
            put(box, f"/etc/systemd/system/uni-wizard@{role}.service.d/zz-probe.conf", probe_dropin(role))
        box.ssh("systemctl daemon-reload")
        yield box


def probe(host: Host, role: str) -> tuple[dict[str, object], str]:
    unit = f"uni-wizard@{role}.service"
    host.ssh(f"systemctl start {unit}", timeout=180, check=False)
    journal = host.ssh(f"journalctl -u {unit} -o cat --no-pager")
    lines = [line for line in journal.splitlines() if line.startswith("PROBE ")]
    assert lines, f"no PROBE line from {unit}:\n{journal[-3000:]}"
    return json.loads(lines[-1].removeprefix("PROBE ")), lines[-1]


@pytest.mark.parametrize("role", ["worker", "reviewer"])
def test_run_tests_is_sandboxed_under_the_roles_unit(host: Host, role: str) -> None:
    report, line = probe(host, role)
    uid = int(host.ssh("id -u uni-wizard"))

    assert "error" not in report, report
    assert report["daemon_uid"] == uid and uid != 0
    result = report["result"]
    assert isinstance(result, dict) and result["ok"] is True, result
    seen = report["seen"]
    assert isinstance(seen, dict)
    assert (seen["uid"], sorted(seen["env"])) == (uid, ALLOWLIST)  # the daemon's own uid, nothing of its env
    assert seen["git_copy"] is False and seen["git_source"] is False
    assert seen["connect"] == "ConnectionRefusedError" and report["listener_reached"] is False
    assert seen["write /.source/check.py"] == "Read-only file system"
    assert seen["caps"] == ["0000000000000000"] * 5 and seen["no_new_privs"] == "1"
    assert seen["forks"][0] < 256 and seen["forks"][1] == 11
    assert report["workspace_unchanged"] is True
    assert TOKEN not in line


def test_without_the_drop_in_run_tests_fails_closed(host: Host) -> None:
    report, line = probe(host, "dispatcher")  # the template alone: RestrictNamespaces=yes and its syscall filter

    assert "result" not in report and report["seen"] is None
    error = str(report["error"])
    assert error.startswith("ToolExecutionError: the sandbox cannot start: bwrap: "), error
    assert "sandbox.conf drop-in" in error and "\n" not in error
    assert report["workspace_unchanged"] is True and report["listener_reached"] is False
    assert TOKEN not in line
