"""The sandbox every run of repository code goes through: bubblewrap, an allowlist, limits, fail closed.

``run_sandboxed(argv, workspace, config=..., timeout=...)`` runs ``argv`` on a copy of ``workspace``
and returns ``process.Completed``. The contract (docs/ARCHITECTURE.md, "The sandbox"):

- **no credentials**: the environment is built from an allowlist (``PATH``, ``HOME`` in the private
  ``/tmp``, ``LANG``/``LC_ALL``, ``TMPDIR``, ``PYTHONDONTWRITEBYTECODE``, ``CI`` and the names in
  ``SandboxConfig.env_names``), never the daemon's (``--clearenv``);
- **no network**: new network, pid, IPC and mount namespaces (and a user namespace unless the daemon is
  root); only an empty loopback is inside;
- **a read-only system view made of binds**: ``/usr`` and the merged-usr links, a few ``/etc`` files
  (``/etc/passwd``, ``/etc/group`` and ``/etc/hosts`` are made up for the sandbox), the interpreter's
  ``sys.base_prefix`` and ``sys.prefix``, the uni_wizard package (an editable install's source directory) and
  ``SandboxConfig.ro_binds``; nothing else of the host;
- **writes only to copies**: the workspace is bound read-only at ``/.source`` (its ``.git`` masked)
  and copied, without any ``.git``, onto a size-limited tmpfs mounted at the workspace's own path,
  before the command starts; ``/tmp`` and ``/dev/shm`` are size-limited tmpfs too; the root is
  remounted read-only. Nothing the command writes reaches the real workspace;
- **an unprivileged uid**: a daemon that is not root stays its own uid inside a new user namespace
  (``--unshare-user``, ``--disable-userns``, ``--cap-drop ALL``). A daemon running as root starts
  bubblewrap as root (so that it can bind paths only root can reach, such as an interpreter under
  ``/root``), keeps only ``CAP_SETUID``, ``CAP_SETGID``, ``CAP_CHOWN`` and ``CAP_SETPCAP`` for the copy,
  and the copy step then drops to ``SandboxConfig.uid``/``gid`` with ``setpriv`` (no supplementary groups, no
  capabilities, no new privileges) before the command runs: the command always has a non-root real
  uid, so ``RLIMIT_NPROC`` counts;
- **limits** through ``prlimit``: address space, processes, open files, file size, CPU seconds, no
  core dumps; the wall-clock ``timeout`` kills the process group (``--die-with-parent`` takes the
  sandbox's pid namespace with it); the output is capped by ``process.run``;
- **fail closed**: when bubblewrap is missing or cannot create its namespaces the call raises
  ``ToolExecutionError`` with one line saying what to do; nothing ever runs unsandboxed.

The copy step is a fixed Python program (``_INIT``) run by the sandbox's interpreter with ``-I -S``;
its arguments are passed positionally, never interpolated. It reports on a pipe of its own (closed
before the command starts), so a command cannot fake a setup failure by printing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import re
import shutil
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..errors import ConfigError, ToolExecutionError, ToolTimeout
from . import process

__all__ = ["SOURCE", "SandboxConfig", "run_sandboxed", "sandbox_env"]

SOURCE = "/.source"  # where the real workspace is bound read-only inside the sandbox
# paths inside the sandbox: private size-limited tmpfs, not the host's shared /tmp
TMP = "/tmp"  # noqa: S108
SHM = "/dev/shm"  # noqa: S108
HOME = f"{TMP}/home"
HOST_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
# the few files of /etc programs need; never /etc as a whole (it may hold the mesh's secrets)
ETC_FILES = (
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "alternatives",
    "ssl/certs",
    "ssl/openssl.cnf",
    "ca-certificates",
    "localtime",
    "timezone",
    "nsswitch.conf",
    "os-release",
    "mime.types",
    "python3",
    f"python3.{sys.version_info.minor}",
)
MERGED_USR = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
PACKAGE_DIR = str(Path(__file__).resolve().parents[1])
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MIB = 1024 * 1024
INSTALL_HINT = "install bubblewrap (Debian: apt-get install bubblewrap); tests never run unsandboxed"
NAMESPACE_HINT = (
    "the daemon must be allowed to create namespaces: allow unprivileged user namespaces (sysctl "
    "kernel.unprivileged_userns_clone=1) and, under systemd, install the role's sandbox.conf drop-in "
    "(docs/TROUBLESHOOTING.md)"
)


@dataclass(frozen=True)
class SandboxConfig:
    """Limits and knobs of the sandbox (``Settings.sandbox_*`` build it; see docs/OPERATIONS.md).

    Args (fields):
        uid: the uid the command runs as when the daemon runs as root (default ``nobody``).
        gid: the gid that goes with ``uid``.
        memory_mb: address space of each process (RLIMIT_AS), in MiB.
        tmpfs_mb: size of each writable tmpfs (the workspace copy, ``/tmp``, ``/dev/shm``), in MiB;
            also the largest file the command may write (RLIMIT_FSIZE).
        processes: processes and threads of the sandbox's uid (RLIMIT_NPROC).
        open_files: open files per process (RLIMIT_NOFILE).
        ro_binds: extra absolute paths bound read-only at the same place (a toolchain, a cache).
        env_names: names of the daemon's environment variables passed in (never ``UNIWIZARD_*``).
        bwrap: the bubblewrap executable.
        prlimit: util-linux's prlimit executable.
    """

    uid: int = 65534
    gid: int = 65534
    memory_mb: int = 4096
    tmpfs_mb: int = 1024
    processes: int = 256
    open_files: int = 1024
    ro_binds: tuple[str, ...] = ()
    env_names: tuple[str, ...] = ()
    bwrap: str = "bwrap"
    prlimit: str = "prlimit"

    def __post_init__(self) -> None:
        lows = {"uid": 1, "gid": 1, "memory_mb": 64, "tmpfs_mb": 1, "processes": 8, "open_files": 16}
        for key, low in lows.items():
            if getattr(self, key) < low:
                _invalid(key, f"must be at least {low} (got {getattr(self, key)})")
        for path in self.ro_binds:
            if not path.startswith("/") or PurePosixPath(path) == PurePosixPath("/"):
                _invalid("ro_binds", f"{path!r}: a bind is an absolute path other than /")
        for name in self.env_names:
            if not _NAME.match(name) or name.upper().startswith("UNIWIZARD_"):
                _invalid("env_names", f"{name!r}: a variable name, never one of the daemon's UNIWIZARD_* settings")


def _invalid(key: str, message: str) -> None:
    """The settings key is ``sandbox_<field>`` (``Settings.sandbox_*`` build the config)."""
    raise ConfigError(message, source="settings", key=f"sandbox_{key}")


def sandbox_env(config: SandboxConfig) -> dict[str, str]:
    """The command's whole environment: the allowlist, plus ``env_names`` the daemon has set."""
    bin_dir = str(Path(sys.prefix) / "bin")
    env = {
        "PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin",
        "HOME": HOME,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TMPDIR": TMP,
        "PYTHONDONTWRITEBYTECODE": "1",
        "CI": "1",
    }
    env |= {name: os.environ[name] for name in config.env_names if name in os.environ}
    return env


# -- the argv ------------------------------------------------------------------------------------


class _Args:
    """bubblewrap's arguments in order, with the directories created so far and the data pipes."""

    def __init__(self) -> None:
        self.argv: list[str] = []
        self.made: set[str] = {"/"}
        self.fds: list[int] = []

    def add(self, *args: str) -> None:
        self.argv.extend(args)

    def parents(self, path: str) -> None:
        """Create the missing directories above ``path`` as 0755 (bubblewrap would copy the host's modes,
        and a 0700 ``/root`` would keep the sandbox's uid from reaching an interpreter bound below it)."""
        for parent in reversed(PurePosixPath(path).parents):
            name = str(parent)
            if name not in self.made:
                self.add("--perms", "0755", "--dir", name)
                self.made.add(name)

    def mount(self, kind: str, source: str | None, dest: str) -> None:
        self.parents(dest)
        self.add(kind, *((source,) if source is not None else ()), dest)
        self.made.add(dest)

    def tmpfs(self, dest: str, size_mb: int, perms: str) -> None:
        self.parents(dest)
        self.add("--perms", perms, "--size", str(size_mb * _MIB), "--tmpfs", dest)
        self.made.add(dest)

    def data(self, dest: str, content: str) -> None:
        """A read-only file made up for the sandbox, handed to bubblewrap on a pipe."""
        read, write = os.pipe()
        try:
            os.write(write, content.encode())  # a few hundred bytes: the pipe's buffer holds them
        finally:
            os.close(write)
        self.fds.append(read)
        self.parents(dest)
        self.add("--perms", "0644", "--ro-bind-data", str(read), dest)
        self.made.add(dest)


def _system(args: _Args, config: SandboxConfig) -> None:
    """/usr, the merged-usr links, the allowlisted /etc files, the interpreter, the extra binds."""
    args.mount("--ro-bind", "/usr", "/usr")
    for name in MERGED_USR:
        host = Path("/") / name
        if host.is_symlink():
            args.add("--symlink", os.readlink(host), f"/{name}")
            args.made.add(f"/{name}")
        elif host.is_dir():
            args.mount("--ro-bind", str(host), f"/{name}")
    for name in ETC_FILES:
        args.mount("--ro-bind-try", f"/etc/{name}", f"/etc/{name}")
    uid, gid = (config.uid, config.gid) if os.geteuid() == 0 else (os.getuid(), os.getgid())
    args.data("/etc/passwd", f"root:x:0:0:root:/root:/usr/sbin/nologin\nsandbox:x:{uid}:{gid}::{HOME}:/bin/sh\n")
    args.data("/etc/group", f"root:x:0:\nsandbox:x:{gid}:\n")
    args.data("/etc/hosts", "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
    prefixes = {os.path.realpath(p) for p in (sys.base_prefix, sys.prefix)}
    for prefix in sorted(prefixes):
        if not _inside(prefix, "/usr"):
            args.mount("--ro-bind", prefix, prefix)
    # uni_wizard itself (the mesh repository's tests import it): inside sys.prefix when installed from a wheel;
    # an editable install's source directory, and nothing else of its checkout, otherwise
    if not any(_inside(PACKAGE_DIR, root) for root in (*prefixes, "/usr")):
        args.mount("--ro-bind", PACKAGE_DIR, PACKAGE_DIR)
    for path in config.ro_binds:
        if not os.path.exists(path):
            raise ToolExecutionError(f"sandbox_ro_binds: {path} does not exist on this host")
        args.mount("--ro-bind", path, str(PurePosixPath(path)))


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _private(args: _Args, config: SandboxConfig) -> None:
    """/proc, /dev (read-only) with a size-limited /dev/shm, and /tmp: first, so that binds below /tmp (an
    interpreter, a workspace in a temporary directory) land on the sandbox's /tmp, not under it."""
    args.add("--proc", "/proc", "--dev", "/dev")
    args.made |= {"/proc", "/dev"}
    args.tmpfs(SHM, config.tmpfs_mb, "1777")
    args.add("--remount-ro", "/dev")
    args.tmpfs(TMP, config.tmpfs_mb, "1777")


def _writable(args: _Args, config: SandboxConfig, workspace: str) -> None:
    """The workspace copy's tmpfs at the workspace's path and the read-only source (its .git masked)."""
    args.tmpfs(workspace, config.tmpfs_mb, "0755")
    args.mount("--ro-bind", workspace, SOURCE)
    git = Path(workspace) / ".git"
    if git.is_dir() and not git.is_symlink():
        args.add("--size", str(_MIB), "--tmpfs", f"{SOURCE}/.git")  # the clone's .git/config holds the token
    elif git.is_file() and not git.is_symlink():
        args.data(f"{SOURCE}/.git", "")
    args.add("--remount-ro", "/")


def _namespaces(privileged: bool) -> list[str]:
    """New mount, pid, network and IPC namespaces (and a user namespace unless root). Not UTS nor cgroup: the
    sandbox can change neither the hostname nor cgroups anyway, and the systemd units need not allow them."""
    common = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--die-with-parent", "--new-session"]
    if privileged:  # root: no user namespace (it would map the sandbox to uid 0); the copy step drops to uid
        caps = [arg for cap in ("SETUID", "SETGID", "CHOWN", "SETPCAP") for arg in ("--cap-add", f"CAP_{cap}")]
        return [*common, "--cap-drop", "ALL", *caps]
    return [*common, "--unshare-user", "--disable-userns", "--cap-drop", "ALL"]


def _limits(config: SandboxConfig, timeout: float) -> list[str]:
    return [
        f"--as={config.memory_mb * _MIB}",
        f"--nproc={config.processes}",
        f"--nofile={config.open_files}",
        f"--fsize={config.tmpfs_mb * _MIB}",
        "--core=0",
        f"--cpu={math.ceil(timeout) + 1}",
    ]


# -- the copy step, run inside the sandbox before the command ------------------------------------

# argv: REPORT_FD SOURCE DEST HOME UID GID -- COMMAND...   (UID "-": no drop, the daemon is not root)
# It reports "copy <why>", "exec <why>" or "ready" on REPORT_FD, which the command never inherits.
_INIT = r"""
import os, shutil, stat, sys

def skip(folder, names):
    # no .git anywhere (a clone's .git/config holds the house's token), nothing but files, dirs and links
    kept = (stat.S_ISREG, stat.S_ISDIR, stat.S_ISLNK)
    return [n for n in names if n == ".git" or not any(k(os.lstat(os.path.join(folder, n)).st_mode) for k in kept)]

def own(top, uid, gid):
    # bottom-up: a directory is listed before it is given away (root here has no capability to read it after)
    def fail(exc):
        raise exc
    for folder, dirs, files in os.walk(top, topdown=False, onerror=fail):
        for name in [os.path.join(folder, n) for n in files] + [folder]:
            os.chown(name, uid, gid, follow_symlinks=False)
        for name in dirs:
            if os.path.islink(os.path.join(folder, name)):
                os.chown(os.path.join(folder, name), uid, gid, follow_symlinks=False)

def main():
    fd = int(sys.argv[1])
    src, dst, home, uid, gid = sys.argv[2:7]
    argv = sys.argv[8:]
    os.set_inheritable(fd, False)
    def report(kind, text):
        os.write(fd, (kind + " " + text.replace("\n", " ") + "\n").encode())
    try:
        shutil.copytree(src, dst, symlinks=True, ignore=skip, dirs_exist_ok=True)
        os.makedirs(home, mode=0o700, exist_ok=True)
    except shutil.Error as exc:
        report("copy", str(exc.args[0][0][2]) if exc.args and exc.args[0] else str(exc))
        sys.exit(125)
    except OSError as exc:
        report("copy", (exc.strerror or str(exc)) + ": " + str(exc.filename))
        sys.exit(125)
    os.chdir(dst)  # before the copy is given away: the working directory stays usable
    found = argv[0] if "/" in argv[0] else shutil.which(argv[0])
    if found is None or not os.path.isfile(found) or not os.access(found, os.X_OK):
        report("exec", argv[0] + " not found in the sandbox")
        sys.exit(127)
    if uid != "-":
        try:
            own(dst, int(uid), int(gid))
            own(home, int(uid), int(gid))
        except OSError as exc:
            report("copy", (exc.strerror or str(exc)) + ": " + str(exc.filename))
            sys.exit(125)
        drop = ["--reuid=" + uid, "--regid=" + gid, "--clear-groups", "--inh-caps=-all", "--bounding-set=-all"]
        drop.append("--no-new-privs")
        argv = ["setpriv", *drop, "--", found, *argv[1:]]
        found = shutil.which("setpriv") or "/usr/bin/setpriv"
    report("ready", "")
    try:
        os.execv(found, argv)
    except OSError as exc:
        report("exec", argv[0] + ": " + (exc.strerror or str(exc)))
        sys.exit(126)

main()
"""


@contextlib.contextmanager
def _pipe() -> Iterator[tuple[int, int]]:
    read, write = os.pipe()
    try:
        yield read, write
    finally:
        for fd in (read, write):
            with contextlib.suppress(OSError):
                os.close(fd)


def _read_report(fd: int) -> list[tuple[str, str]]:
    """What the copy step said, once the sandbox is gone (never blocks: the pipe is non-blocking)."""
    os.set_blocking(fd, False)
    chunks = []
    with contextlib.suppress(BlockingIOError):
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    lines = b"".join(chunks).decode("utf-8", "replace").splitlines()
    return [(line.partition(" ")[0], line.partition(" ")[2].strip()) for line in lines if line]


def _check_tools(config: SandboxConfig, privileged: bool) -> tuple[str, str]:
    bwrap, prlimit = shutil.which(config.bwrap), shutil.which(config.prlimit)
    if bwrap is None:
        raise ToolExecutionError(f"the sandbox cannot start: {config.bwrap} not found; {INSTALL_HINT}")
    if prlimit is None or (privileged and shutil.which("setpriv") is None):
        raise ToolExecutionError("the sandbox cannot start: prlimit or setpriv not found; install util-linux")
    return bwrap, prlimit


def _command_line(
    argv: Sequence[str], workspace: str, config: SandboxConfig, timeout: float, report_fd: int, fds: list[int]
) -> list[str]:
    """prlimit + bubblewrap + the copy step + ``argv``; the data pipes bubblewrap reads are added to ``fds``."""
    privileged = os.geteuid() == 0
    bwrap, prlimit = _check_tools(config, privileged)
    args = _Args()
    try:
        _private(args, config)
        _system(args, config)
        _writable(args, config, workspace)
    finally:
        fds.extend(args.fds)
    env = [arg for name, value in sandbox_env(config).items() for arg in ("--setenv", name, value)]
    ids = (str(config.uid), str(config.gid)) if privileged else ("-", "-")
    init = [sys.executable, "-I", "-S", "-c", _INIT, str(report_fd), SOURCE, workspace, HOME, *ids, "--", *argv]
    return [
        prlimit,
        *_limits(config, timeout),
        "--",
        bwrap,
        *_namespaces(privileged),
        "--clearenv",
        *env,
        *args.argv,
        "--chdir",
        "/",
        "--",
        *init,
    ]


async def run_sandboxed(
    argv: Sequence[str],
    workspace: str | Path,
    *,
    config: SandboxConfig,
    timeout: float,
    max_output: int = 1_000_000,
) -> process.Completed:
    """Run ``argv`` in the sandbox on a copy of ``workspace``; its exit code and output, as ``process.run``.

    Raises ``ToolExecutionError`` when the sandbox cannot be set up (bubblewrap missing, no namespaces,
    a workspace that does not fit ``tmpfs_mb``) or the command is not found inside, and ``ToolTimeout``
    when ``timeout`` passes (the sandbox and everything in it are killed).
    """
    if not argv:
        raise ToolExecutionError("nothing to run in the sandbox: the command is empty")
    root = os.path.realpath(workspace)
    if not os.path.isdir(root) or root == "/" or _inside(root, SOURCE):
        raise ToolExecutionError(f"the sandbox needs a workspace directory other than / and {SOURCE} (got {root})")
    fds: list[int] = []
    with _pipe() as (report_read, report_write):
        try:
            full = _command_line(argv, root, config, timeout, report_write, fds)
            done = await process.run(
                full,
                timeout=timeout,
                env={"PATH": HOST_PATH, "LANG": "C.UTF-8"},
                inherit_env=False,
                pass_fds=(report_write, *fds),
                max_output=max_output,
            )
        except ToolTimeout:  # the sandbox's pid namespace died with bubblewrap: nothing it started is left
            raise ToolTimeout(
                f"{' '.join(argv[:3])} did not finish within {timeout:g} s; killed with everything it started"
            ) from None
        finally:
            for fd in fds:
                os.close(fd)
        os.close(report_write)
        report = _read_report(report_read)
    return _judge(argv, done, report, config)


def _judge(
    argv: Sequence[str], done: process.Completed, report: list[tuple[str, str]], config: SandboxConfig
) -> process.Completed:
    said = dict(report)
    if "copy" in said:
        why = said["copy"]
        if "No space left" in why or "Disk quota" in why:
            why += f" (the workspace must fit in sandbox_tmpfs_mb = {config.tmpfs_mb} MiB)"
        raise ToolExecutionError(f"the sandbox could not copy the workspace: {why}")
    if "exec" in said:
        raise ToolExecutionError(f"cannot run {argv[0]}: {said['exec']}")
    if "ready" not in said:
        raise ToolExecutionError(f"the sandbox cannot start: {_first_error(done)}; {NAMESPACE_HINT}")
    return dataclasses.replace(done, argv=tuple(argv))


def _first_error(done: process.Completed) -> str:
    lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
    tool = next((line for line in lines if line.startswith(("bwrap:", "prlimit:"))), None)
    return tool or (lines[-1] if lines else f"exit {done.returncode} without a word")
