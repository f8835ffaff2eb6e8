"""A stand-in daemon for the sandbox tests that need another uid or a real systemd unit.

    python3 sandbox_probe.py BASE_DIR

It makes a workspace under BASE_DIR (a ``.git/config`` holding the token of ``UNIWIZARD_GITEA_TOKEN``, as a
house's clone does), listens on 127.0.0.1 in its own network namespace, runs ``run_tests`` (always sandboxed)
on the workspace, whose test tries to read the environment and the clone's ``.git/config``, reach the
listener and write the real workspace, and prints one line ``PROBE {json}``: the result (or the error),
what the test saw from inside, whether the listener was reached and whether the workspace changed.
Only the standard library and uni_wizard are imported (``PYTHONPATH`` points at them).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import socket
import sys
from pathlib import Path
from typing import Any

CHECK = r"""
import json, os, socket, time
port = int(open("port.txt").read())
seen = {"uid": os.getuid(), "gid": os.getgid(), "env": dict(os.environ)}
seen["git_copy"] = os.path.exists(".git")
seen["git_source"] = os.path.exists("/.source/.git/config")
try:
    socket.create_connection(("127.0.0.1", port), timeout=3).close()
    seen["connect"] = "connected"
except OSError as exc:
    seen["connect"] = type(exc).__name__
for target in ("/.source/check.py", "/.source/.git/config"):
    try:
        with open(target, "a") as fh:
            fh.write("tampered")
        seen["write " + target] = "written"
    except OSError as exc:
        seen["write " + target] = exc.strerror
with open("check.py", "a") as fh:  # the copy is writable; the real workspace must not change
    fh.write("# tampered\n")
children = []
try:
    while len(children) < 100000:  # RLIMIT_NPROC must stop this long before
        pid = os.fork()
        if pid == 0:
            time.sleep(600)
        children.append(pid)
except OSError as exc:
    seen["forks"] = [len(children), exc.errno]
for pid in children:
    os.kill(pid, 9)
status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
seen["caps"] = [status[k].strip() for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")]
seen["no_new_privs"] = status["NoNewPrivs"].strip()
print("SEEN " + json.dumps(seen))
print("1 passed, 0 failed")
"""


def snapshot(root: Path) -> str:
    """A digest of every file under ``root`` (path, mode, content)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(f"{path.relative_to(root)}:{path.stat().st_mode:o}:".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def workspace(base: Path, token: str, port: int) -> Path:
    root = base / "workspace"
    shutil.rmtree(root, ignore_errors=True)  # a run before this one
    (root / ".git").mkdir(parents=True)
    (root / ".git" / "config").write_text(f'[http]\n\textraHeader = "Authorization: token {token}"\n')
    (root / ".uni-wizard.yaml").write_text(f"test_command: [{json.dumps(sys.executable)}, check.py]\n")
    (root / "check.py").write_text(CHECK)
    (root / "port.txt").write_text(str(port))
    return root


async def probe(base: Path) -> dict[str, Any]:
    from uni_wizard.tools.proof import run_tests  # after sys.path is set by PYTHONPATH

    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    root = workspace(base, os.environ.get("UNIWIZARD_GITEA_TOKEN", ""), listener.getsockname()[1])
    before = snapshot(root)
    report: dict[str, Any] = {"daemon_uid": os.getuid()}
    try:
        report["result"] = await run_tests(workspace=str(root), timeout=120, tail_lines=200)
    except Exception as exc:  # the probe reports whatever happened
        report["error"] = f"{type(exc).__name__}: {exc}"
    try:
        listener.accept()
        report["listener_reached"] = True
    except BlockingIOError:
        report["listener_reached"] = False
    listener.close()
    report["workspace_unchanged"] = snapshot(root) == before
    tail = str(report.get("result", {}).get("output_tail", ""))
    seen = [line.removeprefix("SEEN ") for line in tail.splitlines() if line.startswith("SEEN ")]
    report["seen"] = json.loads(seen[0]) if seen else None
    return report


if __name__ == "__main__":
    print("PROBE " + json.dumps(asyncio.run(probe(Path(sys.argv[1])))), flush=True)
