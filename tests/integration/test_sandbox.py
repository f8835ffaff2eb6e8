"""The sandbox of repository code (uni_wizard/tools/sandbox.py) with real bubblewrap, real processes and a real
loopback server; no mocks.

Each attack is a workspace whose own test command tries it, run through a house's Harness as the worker runs
its proof. The sandbox must deny or bound it; the run must end as a ``Result`` (never an exception); nothing
may persist in the real workspace; and a normal run right after passes (the daemon stays healthy). As root
(here and in CI) bubblewrap starts privileged and the copy step drops to ``nobody``; the user-namespace path
of a daemon that is not root runs in a child process under another uid (``sandbox_probe.py``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import sysconfig
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from loopback_http import LoopbackServer
from prometheus_client import CollectorRegistry
from worlds import plain_runtime

import uni_wizard
from uni_wizard.errors import ConfigError, ToolExecutionError
from uni_wizard.harness import Harness, Runtime, Status
from uni_wizard.harness.result import Result
from uni_wizard.testing import make_runtime
from uni_wizard.tools.env import ToolEnv
from uni_wizard.tools.proof import run_tests
from uni_wizard.tools.sandbox import SandboxConfig, run_sandboxed

HERE = Path(__file__).resolve().parent
PROBE = HERE / "sandbox_probe.py"
TMPFS_MB = 16
PROCESSES = 64
PASSING = "def test_one():\n    assert 1 + 1 == 2\n"


@dataclass
class World:
    """A runtime whose daemon holds secrets everywhere a test might look for them."""

    root: Path
    runtime: Runtime
    token: str
    secret: str
    planted: list[Path]

    def harness(self) -> Harness:
        return Harness("bezalel", runtime=self.runtime, task="sandbox-test")

    def project(self, name: str, files: dict[str, str], command: list[str] | None = None) -> Path:
        """A workspace under the house's workspace: a git clone whose .git/config holds the token."""
        path = self.runtime.settings.workspace / name
        path.mkdir(parents=True)
        for rel, text in files.items():
            (path / rel).parent.mkdir(parents=True, exist_ok=True)
            (path / rel).write_text(text)
        if command is not None:
            (path / ".uni-wizard.yaml").write_text(f"test_command: {json.dumps(command)}\n")
        subprocess.run(["git", "init", "-q", str(path)], check=True, capture_output=True)
        config = path / ".git" / "config"
        with config.open("a") as fh:
            fh.write(f'[http]\n\textraHeader = "Authorization: token {self.token}"\n')
        config.chmod(0o600)
        return path

    async def run(self, path: Path, timeout: int = 60) -> Result:
        return await self.harness().aexecute("run_tests", workspace=str(path), timeout=timeout)

    async def assert_healthy(self) -> None:
        """A normal project passes right after an attack."""
        name = f"healthy-{uuid.uuid4().hex[:6]}"
        result = await self.run(
            self.project(name, {"pyproject.toml": "[project]\nname='h'\n", "tests/test_h.py": PASSING})
        )
        assert result.status is Status.OK, result.error
        assert result.output["ok"] and result.output["passed"] == 1, result.output


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    token, secret = f"tok-{uuid.uuid4().hex}", f"secret-{uuid.uuid4().hex}"
    home = tmp_path / "home"
    planted = [home / ".ssh" / "id_ed25519", tmp_path / "config" / "secrets" / "gitea_token"]
    planted.append(tmp_path / "data" / "secret.txt")
    for path in planted:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secret)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("UNIWIZARD_GITEA_TOKEN", token)  # the finding: the daemon's token in its environment
    monkeypatch.setenv("GITEA_TOKEN", token)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    with plain_runtime(tmp_path, sandbox_tmpfs_mb=TMPFS_MB, sandbox_processes=PROCESSES) as runtime:
        assert runtime.env.gitea_token == token and runtime.env.sandbox.processes == PROCESSES
        yield World(tmp_path, runtime, token, secret, planted)


def snapshot(root: Path) -> str:
    """A digest of everything under ``root`` (also .git): path, mode, content."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        digest.update(f"{path.relative_to(root)}:{info.st_mode:o}:".encode())
        if stat.S_ISREG(info.st_mode):
            digest.update(path.read_bytes())
    return digest.hexdigest()


def leaked(world: World, *texts: object) -> bool:
    blob = "\n".join(json.dumps(t, default=str) if not isinstance(t, str) else t for t in texts)
    return world.token in blob or world.secret in blob


def lines_with(output: dict[str, Any], prefix: str) -> list[str]:
    return [line.removeprefix(prefix) for line in str(output["output_tail"]).splitlines() if line.startswith(prefix)]


def processes_with(marker: str) -> list[int]:
    """Live (not zombie) processes whose command line holds ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            alive = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
            if alive and marker.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def wait_until_gone(marker: str, seconds: float = 10.0) -> list[int]:
    deadline = time.monotonic() + seconds
    while (left := processes_with(marker)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


# -- the finding ------------------------------------------------------------------------------------------


async def test_the_daemons_token_never_reaches_the_result(world: World) -> None:
    """Regression: run_tests ran as the daemon with its whole environment, and the token came back."""
    dump = (
        "import os, sys\n"
        "def test_dump():\n"
        "    print('ENV', dict(os.environ))\n"
        "    for pid in os.listdir('/proc'):\n"
        "        if pid.isdigit():\n"
        "            try:\n"
        "                print('PROC', pid, open(f'/proc/{pid}/environ', 'rb').read())\n"
        "            except OSError as exc:\n"
        "                print('PROC', pid, exc.strerror)\n"
    )
    path = world.project("env", {"pyproject.toml": "[project]\nname='e'\n", "tests/test_env.py": dump})
    command = [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider"]
    (path / ".uni-wizard.yaml").write_text(f"test_command: {json.dumps(command)}\n")

    result = await world.run(path)

    assert result.status is Status.OK and result.output["ok"], result.output
    assert "ENV" in result.output["output_tail"]  # the test did look
    assert not leaked(world, result.output, result.error or "")
    direct = await run_tests(workspace=str(path), env=world.runtime.env, tail_lines=1000)  # the tool itself
    assert direct["ok"] and not leaked(world, direct)
    env_line = next(line for line in direct["output_tail"].splitlines() if line.startswith("ENV"))
    assert "UNIWIZARD" not in env_line and "AWS_SECRET" not in env_line and "GITEA_TOKEN" not in env_line
    records = world.runtime.provenance.tail(5)
    assert records and not leaked(world, [r.output_json for r in records])


# -- attacks ----------------------------------------------------------------------------------------------

CREDENTIALS = r"""
import json, os, sys
targets = json.load(open("targets.json"))
targets += [os.path.expanduser("~/.ssh/id_ed25519"), "/root/.ssh/id_ed25519", "/etc/shadow", "/etc/uni-wizard/secrets"]
found = {}
for target in targets:
    try:
        found[target] = "READ " + open(target).read()
    except OSError as exc:
        found[target] = exc.strerror
for target, what in found.items():
    print("TRIED", target, what)
readable = [t for t, w in found.items() if w.startswith("READ")]
print("%d passed, %d failed" % (len(found) - len(readable), len(readable)))
sys.exit(1 if readable else 0)
"""


async def test_credential_files_of_the_daemon_are_not_there(world: World) -> None:
    targets = [*map(str, world.planted), f"/proc/{os.getpid()}/environ"]  # the daemon's own environment
    path = world.project(
        "creds", {"probe.py": CREDENTIALS, "targets.json": json.dumps(targets)}, [sys.executable, "probe.py"]
    )

    result = await world.run(path)

    assert result.status is Status.OK, result.error
    tried = dict(line.split(" ", 1) for line in lines_with(result.output, "TRIED "))
    assert len(tried) == len(world.planted) + 5
    for planted in world.planted:  # not mounted at all: absent, not merely unreadable
        assert tried[str(planted)] == "No such file or directory", tried
    assert result.output["ok"] and result.output["failed"] == 0, result.output["output_tail"]
    assert not leaked(world, result.output)
    await world.assert_healthy()


NETWORK = r"""
import socket, sys
port = int(sys.argv[1])
outcomes = []
for host in ("127.0.0.1", "::1", "1.1.1.1"):
    try:
        socket.create_connection((host, port if host != "1.1.1.1" else 53), timeout=3).close()
        outcomes.append("CONNECTED " + host)
    except OSError as exc:
        outcomes.append("REFUSED %s %s" % (host, type(exc).__name__))
print("\n".join(outcomes))
connected = sum(o.startswith("CONNECTED") for o in outcomes)
print("%d passed, %d failed" % (len(outcomes) - connected, connected))
sys.exit(1 if connected else 0)
"""


async def test_the_network_is_out_of_reach(world: World) -> None:
    with LoopbackServer() as server:
        port = server.port
        with socket.create_connection(("127.0.0.1", port), timeout=3):  # reachable from the daemon
            pass
        path = world.project("net", {"net.py": NETWORK}, [sys.executable, "net.py", str(port)])

        result = await world.run(path)

        assert result.status is Status.OK, result.error
        assert result.output["ok"] and result.output["passed"] == 3, result.output["output_tail"]
        assert "REFUSED 127.0.0.1 ConnectionRefusedError" in result.output["output_tail"]
        assert server.requests == []
    await world.assert_healthy()


FORKS = r"""
import os, sys, time
children = []
try:
    while len(children) < 100000:
        pid = os.fork()
        if pid == 0:
            time.sleep(60)
            os._exit(0)
        children.append(pid)
except OSError as exc:
    print("FORK-LIMIT", len(children), exc.errno)
print("1 passed, 0 failed")
"""
BOMB = "import os, sys\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"


async def test_a_fork_bomb_is_bounded_and_killed(world: World) -> None:
    path = world.project("forks", {"forks.py": FORKS}, [sys.executable, "forks.py"])
    result = await world.run(path)
    assert result.status is Status.OK, result.error
    (limit,) = lines_with(result.output, "FORK-LIMIT ")
    count, errno = map(int, limit.split())
    assert count < PROCESSES and errno == 11  # EAGAIN: RLIMIT_NPROC of the sandbox's uid

    marker = f"bomb-{uuid.uuid4().hex}"
    path = world.project("bomb", {"bomb.py": BOMB}, [sys.executable, "bomb.py", marker])
    started = time.monotonic()
    result = await world.run(path, timeout=3)
    assert result.status is Status.TIMEOUT and "did not finish within 3 s; killed with everything" in (
        result.error or ""
    )
    assert time.monotonic() - started < 20
    assert wait_until_gone(marker) == []
    await world.assert_healthy()


FILL = r"""
import errno, os
chunk = b"x" * (1 << 20)
report = {}
for place in ("/tmp/fill", os.path.expanduser("~/fill"), "fill", "/dev/shm/fill"):
    written = 0
    try:
        with open(place, "wb") as fh:
            while written < (1 << 30):
                fh.write(chunk)
                fh.flush()
                written += len(chunk)
        report[place] = "NOLIMIT"
    except OSError as exc:
        report[place] = errno.errorcode.get(exc.errno, str(exc.errno))
    print("FILL", place, written, report[place])
    if os.path.exists(place):
        os.unlink(place)
for place in ("/fill", "/usr/fill", "/etc/fill", "/.source/fill", "/dev/fill"):
    try:
        open(place, "wb").close()
        print("FILL", place, 0, "CREATED")
    except OSError as exc:
        print("FILL", place, 0, errno.errorcode.get(exc.errno, str(exc.errno)))
print("1 passed, 0 failed")
"""


async def test_filling_the_disk_is_bounded_by_the_tmpfs(world: World) -> None:
    path = world.project("fill", {"fill.py": FILL}, [sys.executable, "fill.py"])
    before = shutil.disk_usage(world.root)

    result = await world.run(path, timeout=120)

    assert result.status is Status.OK, result.error
    fills = {
        place: (int(size), why) for place, size, why in (line.split() for line in lines_with(result.output, "FILL "))
    }
    for place in ("/tmp/fill", "/tmp/home/fill", "fill", "/dev/shm/fill"):
        size, why = fills[place]
        assert why in ("ENOSPC", "EFBIG") and size <= TMPFS_MB << 20, (place, fills)
    for place in ("/fill", "/usr/fill", "/etc/fill", "/.source/fill", "/dev/fill"):
        assert fills[place][1] in ("EROFS", "EACCES", "ENOENT"), (place, fills)
    assert shutil.disk_usage(world.root).used - before.used < 8 << 20  # nothing reached the host's disk
    await world.assert_healthy()


TAMPER = r"""
import json, os
seen = {"git_copy": os.path.exists(".git"), "git_source": os.path.exists("/.source/.git/config")}
for target in (".git/config", "README.md", "/.source/README.md", "/.source/.git/config", "/.source/new-file"):
    try:
        os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
        with open(target, "a") as fh:
            fh.write("[core]\n\tfsmonitor = touch /pwned\n")
        seen[target] = "written"
    except OSError as exc:
        seen[target] = exc.strerror
try:
    os.chmod("/.source/README.md", 0o777)
    seen["chmod"] = "changed"
except OSError as exc:
    seen["chmod"] = exc.strerror
print("SEEN " + json.dumps(seen))
print("1 passed, 0 failed")
"""


async def test_nothing_written_persists_in_the_workspace_and_its_git_is_out_of_reach(world: World) -> None:
    path = world.project("tamper", {"README.md": "# hello\n", "tamper.py": TAMPER}, [sys.executable, "tamper.py"])
    subprocess.run(["git", "-C", str(path), "add", "-A"], check=True)
    subprocess.run(
        ["git", "-C", str(path), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"], check=True
    )
    before = snapshot(path)

    result = await world.run(path)

    assert result.status is Status.OK, result.error
    (seen,) = [json.loads(line) for line in lines_with(result.output, "SEEN ")]
    assert seen["git_copy"] is False and seen["git_source"] is False  # no .git in the copy, masked in the source
    assert seen[".git/config"] == "written" and seen["README.md"] == "written"  # in the copy only
    for target in ("/.source/README.md", "/.source/.git/config", "/.source/new-file", "chmod"):
        assert seen[target] in ("Read-only file system", "Permission denied", "No such file or directory"), seen
    assert snapshot(path) == before
    assert (path / "README.md").read_text() == "# hello\n" and "fsmonitor" not in (path / ".git" / "config").read_text()
    assert not leaked(world, result.output)
    await world.assert_healthy()


SLEEPER = r"""
import os, sys, time
if os.fork() == 0:  # a grandchild in its own session, as a daemonizing test would leave behind
    os.setsid()
    if os.fork() == 0:
        time.sleep(300)
    os._exit(0)
time.sleep(300)
"""


async def test_a_run_past_its_timeout_is_killed_with_everything_it_started(world: World) -> None:
    marker = f"sleeper-{uuid.uuid4().hex}"
    path = world.project("sleep", {"sleep.py": SLEEPER}, [sys.executable, "sleep.py", marker])
    started = time.monotonic()

    result = await world.run(path, timeout=2)

    assert result.status is Status.TIMEOUT, (result.status, result.error)
    assert time.monotonic() - started < 15
    assert wait_until_gone(marker) == []
    await world.assert_healthy()


async def test_the_command_runs_unprivileged_with_an_allowlisted_environment(world: World) -> None:
    show = "import os, sys\nprint('ID', os.getuid(), os.getgid(), os.getgroups())\nprint('ENV', sorted(os.environ))\n"
    show += "s = dict(l.split(':', 1) for l in open('/proc/self/status'))\n"
    show += "print('CAPS', *[s[k].strip() for k in ('CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb', 'NoNewPrivs')])\n"
    show += "print('1 passed, 0 failed')\n"
    path = world.project("who", {"who.py": show}, [sys.executable, "who.py"])

    result = await world.run(path)

    assert result.status is Status.OK and result.output["ok"], result.output
    (ids,) = lines_with(result.output, "ID ")
    expected = (65534, 65534) if os.geteuid() == 0 else (os.getuid(), os.getgid())
    assert ids == f"{expected[0]} {expected[1]} []"
    (env,) = lines_with(result.output, "ENV ")
    assert json.loads(env.replace("'", '"')) == sorted(
        ["CI", "HOME", "LANG", "LC_ALL", "PATH", "PWD", "PYTHONDONTWRITEBYTECODE", "TMPDIR"]
    )
    (caps,) = lines_with(result.output, "CAPS ")
    assert caps.split() == ["0000000000000000"] * 5 + ["1"]


async def test_configured_environment_names_and_binds_are_passed(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    extra = world.root / "toolchain"
    extra.mkdir()
    (extra / "tool.txt").write_text("a tool\n")
    extra.chmod(0o755)  # readable inside; its parents need not be (the sandbox makes its own, 0755)
    monkeypatch.setenv("PIP_INDEX_URL", "http://mirror.invalid/simple")
    config = SandboxConfig(ro_binds=(str(extra),), env_names=("PIP_INDEX_URL",))
    code = (
        f"import os\nprint('TOOL', open({str(extra / 'tool.txt')!r}).read().strip())\n"
        "print('PIP', os.environ.get('PIP_INDEX_URL'))\nprint('1 passed, 0 failed')\n"
    )
    path = world.project("extra", {"t.py": code})

    done = await run_sandboxed([sys.executable, "t.py"], path, config=config, timeout=60)

    assert done.returncode == 0, done.stderr
    assert "TOOL a tool" in done.stdout and "PIP http://mirror.invalid/simple" in done.stdout


# -- fail closed ------------------------------------------------------------------------------------------


async def test_without_bubblewrap_the_run_fails_closed_and_says_what_to_do(world: World) -> None:
    ran = world.root / "ran-unsandboxed"
    code = f"open({str(ran)!r}, 'w').write('ran')\nprint('1 passed, 0 failed')\n"
    path = world.project("nobwrap", {"t.py": code}, [sys.executable, "t.py"])
    missing = ToolEnv(sandbox=SandboxConfig(bwrap=str(world.root / "no-such-bwrap")))
    runtime = Runtime(world.runtime.settings, env=missing, metrics_registry=CollectorRegistry())

    try:
        result = await Harness("bezalel", runtime=runtime).aexecute("run_tests", workspace=str(path))
    finally:
        runtime.close()

    assert (result.status, result.error_type) == (Status.ERROR, "ToolExecutionError"), result
    assert "no-such-bwrap not found; install bubblewrap" in (result.error or "") and "\n" not in (result.error or "")
    with pytest.raises(ToolExecutionError, match=r"no-such-bwrap not found; install bubblewrap"):
        await run_tests(workspace=str(path), env=missing)
    assert not ran.exists()
    await world.assert_healthy()


NAMESPACES_PROBE = r"""
import asyncio, json, sys
from uni_wizard.tools.sandbox import SandboxConfig, run_sandboxed
async def main():
    try:
        done = await run_sandboxed([sys.executable, "-c", "import sys; open(sys.argv[1], 'w')", sys.argv[2]], sys.argv[1],
                                   config=SandboxConfig(), timeout=30)
        print(json.dumps({"returncode": done.returncode}))
    except Exception as exc:
        print(json.dumps({"error": type(exc).__name__, "message": str(exc)}))
asyncio.run(main())
"""


def test_without_namespaces_the_run_fails_closed_and_says_what_to_do(tmp_path: Path) -> None:
    """A daemon that may not create namespaces (here: none left to create in its user namespace)."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare is not installed (Debian package util-linux)")
    ran = tmp_path / "ran"
    script = 'echo 0 > /proc/sys/user/max_net_namespaces && exec "$@"'
    argv = ["unshare", "--user", "--map-root-user", "sh", "-c", script, "sh", sys.executable, "-c", NAMESPACES_PROBE]
    done = subprocess.run([*argv, str(tmp_path), str(ran)], capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0 and "unshare" in done.stderr:
        pytest.skip(f"no user namespace for the test itself: {done.stderr.strip()}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report.get("error") == "ToolExecutionError", report
    assert report["message"].startswith("the sandbox cannot start: bwrap: ")
    assert "allow unprivileged user namespaces" in report["message"] and "sandbox.conf" in report["message"]
    assert not ran.exists()


def test_the_sandbox_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="sandbox_uid"):
        SandboxConfig(uid=0)
    with pytest.raises(ConfigError, match="sandbox_ro_binds"):
        SandboxConfig(ro_binds=("relative/path",))
    with pytest.raises(ConfigError, match="sandbox_env_names"):
        SandboxConfig(env_names=("UNIWIZARD_GITEA_TOKEN",))


async def test_a_workspace_bigger_than_the_tmpfs_is_an_error_not_a_partial_run(world: World) -> None:
    path = world.project("big", {"big.bin": "x" * ((TMPFS_MB + 2) << 20)}, [sys.executable, "-c", "print(1)"])
    result = await world.run(path)
    assert result.status is Status.ERROR and result.error_type == "ToolExecutionError"
    assert "could not copy the workspace" in (result.error or "") and f"{TMPFS_MB} MiB" in (result.error or "")


async def test_a_command_missing_in_the_sandbox_is_an_error(world: World) -> None:
    path = world.project("nocmd", {}, ["no-such-test-runner", "-q"])
    result = await world.run(path)
    assert result.status is Status.ERROR
    error = result.error or ""
    assert error.startswith("the tests cannot run: `no-such-test-runner` is not installed where the sandbox looks")
    assert "the command is `no-such-test-runner -q` (`test_command` in .uni-wizard.yaml)" in error
    assert "set test_command in .uni-wizard.yaml" in error and "\n" not in error


# -- the daemon is not root: the user-namespace path ------------------------------------------------------


def _unprivileged_python() -> tuple[list[str], str] | str:
    """argv prefix and PYTHONPATH to run the probe as ``nobody`` with the system's python3, or why not."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        return "needs root and setpriv to start a daemon under another uid"
    system = shutil.which("python3", path="/usr/bin")
    if system is None:
        return "no /usr/bin/python3"
    version = subprocess.run([system, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True)
    if version.stdout.strip() != str(sys.version_info[:2]):
        return f"/usr/bin/python3 is {version.stdout.strip()}, the test venv {sys.version_info[:2]}"
    path = f"{Path(uni_wizard.__file__).resolve().parents[1]}:{sysconfig.get_paths()['purelib']}"
    drop = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    check = subprocess.run([*drop, "env", f"PYTHONPATH={path}", system, "-c", "import uni_wizard.tools.proof"],
                           capture_output=True, text=True, timeout=60)  # fmt: skip
    if check.returncode != 0:
        return f"nobody cannot import uni_wizard from this checkout: {check.stderr.strip().splitlines()[-1:]}"
    return [*drop, "env", "-i", f"PYTHONPATH={path}", "PYTHONDONTWRITEBYTECODE=1", "PATH=/usr/bin:/bin", system], path


def test_a_daemon_that_is_not_root_runs_tests_in_a_user_namespace_as_itself() -> None:
    prefix = _unprivileged_python()
    if isinstance(prefix, str):
        pytest.skip(prefix)
    argv, _ = prefix
    token = f"tok-{uuid.uuid4().hex}"
    base = Path(tempfile.mkdtemp(prefix="uw-sandbox-"))
    try:
        base.chmod(0o777)
        done = subprocess.run([*argv[:-1], f"UNIWIZARD_GITEA_TOKEN={token}", argv[-1], str(PROBE), str(base)],
                              capture_output=True, text=True, timeout=120)  # fmt: skip
    finally:
        shutil.rmtree(base, ignore_errors=True)
    (line,) = [line for line in done.stdout.splitlines() if line.startswith("PROBE ")]
    report = json.loads(line.removeprefix("PROBE "))
    assert report["daemon_uid"] == 65534 and "error" not in report, report
    assert report["result"]["ok"], report["result"]["output_tail"]
    seen = report["seen"]
    assert (seen["uid"], seen["gid"]) == (65534, 65534)  # its own uid, inside a user namespace
    assert sorted(seen["env"]) == ["CI", "HOME", "LANG", "LC_ALL", "PATH", "PWD", "PYTHONDONTWRITEBYTECODE", "TMPDIR"]
    assert seen["git_copy"] is False and seen["git_source"] is False
    assert seen["connect"] == "ConnectionRefusedError" and report["listener_reached"] is False
    assert seen["write /.source/check.py"] == "Read-only file system"
    assert seen["caps"] == ["0000000000000000"] * 5 and seen["no_new_privs"] == "1"
    assert seen["forks"][0] < SandboxConfig().processes and seen["forks"][1] == 11  # EAGAIN: RLIMIT_NPROC
    assert report["workspace_unchanged"] is True
    assert token not in done.stdout + done.stderr


def test_settings_reach_the_sandbox(tmp_path: Path) -> None:
    runtime = make_runtime(tmp_path, sandbox_memory_mb=512, sandbox_env_names=("PIP_INDEX_URL",), sandbox_uid=4242)
    try:
        sandbox = runtime.env.sandbox
        assert (sandbox.memory_mb, sandbox.env_names, sandbox.uid, sandbox.gid) == (
            512,
            ("PIP_INDEX_URL",),
            4242,
            65534,
        )
    finally:
        runtime.close()


PRIVATE = r"""
import os, socket
open("deep/er/new.txt", "w").write("written")  # the copy is the command's, down to its 0700 directories
server = socket.create_server(("127.0.0.1", 0))  # its own loopback works: a test server inside the run
client = socket.create_connection(server.getsockname())
peer, _ = server.accept()
client.sendall(b"ping")
print("LOOPBACK", peer.recv(4).decode(), sorted(os.listdir("deep/er")))
print("1 passed, 0 failed")
"""


async def test_a_private_workspace_is_copied_whole_and_its_loopback_works(world: World) -> None:
    path = world.project("private", {"deep/er/old.txt": "old", "private.py": PRIVATE}, [sys.executable, "private.py"])
    for folder in (path / "deep" / "er", path / "deep", path):
        folder.chmod(0o700)  # as a daemon with UMask=0077 (or mkdtemp) leaves them
    before = snapshot(path)

    result = await world.run(path)

    assert result.status is Status.OK and result.output["ok"], (result.error, result.output)
    assert lines_with(result.output, "LOOPBACK ") == ["ping ['new.txt', 'old.txt']"]
    assert snapshot(path) == before


def test_the_sandbox_benchmark_runs_and_reports_both_rows() -> None:
    """benchmarks/sandbox_overhead.py end to end with tiny sizes (no timing is asserted)."""
    import sys as _sys

    _sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    import sandbox_overhead

    text = sandbox_overhead.main(["--runs", "1", "--files", "3"])
    assert "direct (the baseline)" in text and "through the sandbox" in text
