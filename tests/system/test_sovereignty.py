"""Sovereignty: with the default configuration, the main job contacts no host outside the machine.

``uni-wizard demo`` (what ``make demo`` runs) runs as a real process tree inside a network namespace
that has only a loopback interface, with an audit hook (``sys.addaudithook``, loaded through
``sitecustomize`` in every Python process of the tree) that records every ``socket.connect``,
``socket.sendto`` and name lookup whose target is not this machine. The demo must succeed — so it
needed nothing beyond loopback — and the record must be empty — so it did not even try.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.system,
    pytest.mark.skipif(
        os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("ip") is None,
        reason="needs root, unshare (util-linux) and ip (iproute2) for a loopback-only network namespace",
    ),
]

AUDIT_HOOK = """
import ipaddress, json, os, socket, sys

_LOG = os.environ.get("SOVEREIGNTY_LOG")
_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", ""}


def _local_host(host):
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    host = str(host).strip("[]")
    if host in _LOCAL_NAMES or host == socket.gethostname():
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _remote(address):
    if isinstance(address, (str, bytes)):  # AF_UNIX
        return None
    if isinstance(address, tuple) and address and not _local_host(address[0]):
        return address[0]
    return None


def _hook(event, args):
    if _LOG is None:
        return
    target = None
    if event in ("socket.connect", "socket.sendto"):
        target = _remote(args[1])
    elif event == "socket.getaddrinfo":
        target = None if _local_host(args[0]) else args[0]
    elif event == "socket.gethostbyname":
        target = None if _local_host(args[0]) else args[0]
    if target is not None:
        with open(_LOG, "a", encoding="utf-8") as out:
            out.write(json.dumps({"event": event, "target": str(target), "pid": os.getpid(), "argv": sys.argv[:3]}) + "\\n")


sys.addaudithook(_hook)
"""


def test_the_demo_contacts_no_host_outside_the_machine(tmp_path: Path) -> None:
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(AUDIT_HOOK)
    log = tmp_path / "outside.jsonl"
    log.touch()
    home = tmp_path / "home"
    home.mkdir()
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("UNIWIZARD_", "http_", "https_", "HTTP_", "HTTPS_", "ALL_PROXY", "all_proxy"))
    }
    env |= {"PYTHONPATH": str(hooks), "SOVEREIGNTY_LOG": str(log), "HOME": str(home), "XDG_DATA_HOME": str(home)}
    cli = Path(sys.executable).with_name("uni-wizard")
    script = 'ip link set lo up && exec "$@"'
    done = subprocess.run(
        ["unshare", "--net", "--", "sh", "-c", script, "sh", str(cli), "demo"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, f"the demo failed without a network:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    attempts = [json.loads(line) for line in log.read_text().splitlines()]
    assert attempts == [], f"the demo tried to reach hosts outside this machine: {attempts[:10]}"


def test_the_audit_hook_sees_an_attempt_to_leave(tmp_path: Path) -> None:
    """The check above can fail: the same hook records a connect to a documentation address (TEST-NET-1)."""
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(AUDIT_HOOK)
    log = tmp_path / "outside.jsonl"
    probe = "import socket\ns = socket.socket()\ns.settimeout(0.2)\ntry:\n    s.connect(('192.0.2.1', 80))\nexcept OSError:\n    pass\n"
    env = {**os.environ, "PYTHONPATH": str(hooks), "SOVEREIGNTY_LOG": str(log)}
    subprocess.run(
        ["unshare", "--net", "--", sys.executable, "-c", probe], env=env, check=True, timeout=30, capture_output=True
    )
    assert [json.loads(line)["target"] for line in log.read_text().splitlines()] == ["192.0.2.1"]
