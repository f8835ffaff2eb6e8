"""Throw-away hosts with a real systemd: systemd-nspawn containers booted from this machine's own root.

The root is bind-mounted read-only (non-recursive) and each container writes to a tmpfs overlay, so
nothing a test does inside reaches the machine. Each host gets its own network namespace on a bridge
(controller ``<net>.1``, hosts ``<net>.11``, ``<net>.12``, ...), the image's sshd (root login with a
key made for the run) and a hostname of its own.

Use ``boot_hosts(workdir, names)`` as a context manager; everything (containers, namespaces, veths,
the bridge, the mount) is removed on exit, also when booting fails half-way. Needs root, ``ip``,
``systemd-nspawn`` (Debian systemd-container) and ``sshd`` (openssh-server): ``missing_requirements()``
says what is absent, for a skip reason.

Recipe and gotchas: shared/reference/ops/OPS_RECIPES.md section 4 and 5 (multihost.sh).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

# Units the image has enabled that must not start in every container.
MASKED = (
    "postgresql.service",
    "prometheus.service",
    "prometheus-node-exporter.service",
    "syncthing-resume.service",
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "man-db.timer",
    "e2scrub_all.timer",
    "fstrim.timer",
)
COMMAND_TIMEOUT = 60.0
BOOT_TIMEOUT = 90.0
STOP_TIMEOUT = 20.0


def missing_requirements() -> str | None:
    """Why nspawn hosts cannot be booted here, or None."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, mounts, systemd-nspawn)"
    for tool, package in (
        ("systemd-nspawn", "systemd-container"),
        ("ip", "iproute2"),
        ("ssh", "openssh-client"),
        ("ssh-keygen", "openssh-client"),
        ("nsenter", "util-linux"),
    ):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (Debian package {package})"
    if not Path("/usr/sbin/sshd").exists():
        return "sshd is not installed (Debian package openssh-server)"
    if not Path("/lib/systemd/system/ssh.service").exists():
        return "ssh.service is missing: the containers could not start sshd"
    return None


def run(
    argv: Sequence[str], *, timeout: float = COMMAND_TIMEOUT, check: bool = True
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, check=check)


@dataclass
class Host:
    """One booted container, reachable over SSH at ``address``."""

    name: str
    address: str
    netns: str
    process: subprocess.Popen[bytes]
    log: Path
    ssh_base: list[str]

    def ssh(self, command: str, *, timeout: float = COMMAND_TIMEOUT, check: bool = True) -> str:
        """Run ``command`` (a shell line, as SSH does) on the host; its stdout."""
        done = run([*self.ssh_base, f"root@{self.address}", command], timeout=timeout, check=False)
        if check and done.returncode != 0:
            raise AssertionError(f"{self.name}: {command!r} exited {done.returncode}: {done.stderr.strip()}")
        return done.stdout

    def unit_property(self, unit: str, prop: str) -> str:
        return self.ssh(f"systemctl show -p {prop} --value {unit}").strip()


@dataclass
class Hosts:
    """The booted hosts and what a deploy needs to reach them."""

    hosts: list[Host]
    network: str  # e.g. "10.214.7": controller .1, hosts .11, .12, ...
    ssh_key: Path
    known_hosts: Path
    timings: dict[str, float] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Host:
        return next(h for h in self.hosts if h.name == name)


def _free_network() -> str:
    used = run(["ip", "-o", "-4", "addr", "show"]).stdout
    for _ in range(100):
        net = f"10.{secrets.choice(range(214, 250))}.{secrets.choice(range(256))}"
        if f" {net}." not in used:
            return net
    raise RuntimeError("no free 10.x.y.0/24 network for the test hosts")


def _stop_container(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM = clean poweroff; if that hangs, SIGKILL nspawn's child (the container's PID 1) first,
    since killing nspawn alone orphans the container and keeps its namespace alive."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT)
            return
        except subprocess.TimeoutExpired:
            children = run(["pgrep", "-P", str(process.pid)], check=False).stdout.split()
            for child in children:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(child), signal.SIGKILL)
            process.kill()
    process.wait(timeout=STOP_TIMEOUT)


def _network(stack: contextlib.ExitStack, tag: str, count: int) -> tuple[str, list[str]]:
    """A bridge with the controller on ``<net>.1`` and one namespace per host; removed when ``stack`` closes."""
    net = _free_network()
    bridge = f"uwb{tag}"
    run(["ip", "link", "add", bridge, "type", "bridge"])
    stack.callback(run, ["ip", "link", "del", bridge], check=False)
    run(["ip", "addr", "add", f"{net}.1/24", "dev", bridge])
    run(["ip", "link", "set", bridge, "up"])
    namespaces = []
    for index in range(1, count + 1):
        netns, veth = f"uw{tag}h{index}", f"uwv{tag}{index}"
        run(["ip", "netns", "add", netns])
        stack.callback(run, ["ip", "netns", "del", netns], check=False)
        run(["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", netns])
        stack.callback(run, ["ip", "link", "del", veth], check=False)
        run(["ip", "link", "set", veth, "master", bridge, "up"])
        run(["ip", "-n", netns, "link", "set", "lo", "up"])
        run(["ip", "-n", netns, "addr", "add", f"{net}.{10 + index}/24", "dev", "eth0"])
        run(["ip", "-n", netns, "link", "set", "eth0", "up"])
        namespaces.append(netns)
    return net, namespaces


@contextlib.contextmanager
def boot_hosts(workdir: Path, names: Sequence[str], *, binds: Sequence[tuple[Path, str]] = ()) -> Iterator[Hosts]:
    """Boot one container per name; yields once every host answers SSH and its systemd is up. ``binds``:
    (host path, container path) pairs bound read-only into every container (the host's ``/tmp`` is not
    visible inside: the containers mount a tmpfs there)."""
    reason = missing_requirements()
    if reason:
        raise RuntimeError(reason)
    workdir.mkdir(parents=True, exist_ok=True)
    tag = secrets.token_hex(2)
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        keys = workdir / "keys"
        keys.mkdir()
        key = keys / "id_ed25519"
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "uni-wizard-test", "-f", str(key)])
        authorized = keys / "authorized_keys"
        shutil.copy(key.with_suffix(".pub"), authorized)
        authorized.chmod(0o600)
        known_hosts = keys / "known_hosts"
        known_hosts.touch()
        net, namespaces = _network(stack, tag, len(names))
        rootview = workdir / "rootview"
        rootview.mkdir()
        run(["mount", "--bind", "/", str(rootview)])
        stack.callback(run, ["umount", "--lazy", str(rootview)], check=False)
        run(["mount", "-o", "remount,bind,ro", str(rootview)])
        ssh_base = [
            "ssh", "-q", "-o", "BatchMode=yes", "-o", "ConnectTimeout=3",
            "-o", "StrictHostKeyChecking=accept-new", "-o", f"UserKnownHostsFile={known_hosts}", "-i", str(key),
        ]  # fmt: skip
        hosts = []
        for index, (name, netns) in enumerate(zip(names, namespaces, strict=True), start=1):
            hostname = workdir / f"hostname-{name}"
            hostname.write_text(f"{name}\n")
            log = workdir / f"nspawn-{name}.log"
            argv = [
                "systemd-nspawn", "--quiet", f"--directory={rootview}", "--volatile=overlay", "--boot",
                f"--machine={name}-{tag}", "--register=no", "--keep-unit", "--console=passive",
                f"--network-namespace-path=/run/netns/{netns}", f"--uuid={uuid.uuid4().hex}",
                f"--bind-ro={authorized}:/root/.ssh/authorized_keys", f"--bind-ro={hostname}:/etc/hostname",
                *(f"--bind-ro={source}:{target}" for source, target in binds),
                *(f"systemd.mask={unit}" for unit in MASKED),
            ]  # fmt: skip
            with log.open("wb") as out:
                process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            stack.callback(_stop_container, process)
            hosts.append(Host(name, f"{net}.{10 + index}", netns, process, log, ssh_base))
        for host in hosts:
            _wait_for_ssh(host)
        booted = Hosts(hosts, net, key, known_hosts)
        booted.timings["boot_seconds"] = time.monotonic() - started
        yield booted


def _wait_for_ssh(host: Host) -> None:
    deadline = time.monotonic() + BOOT_TIMEOUT
    while time.monotonic() < deadline:
        if host.process.poll() is not None:
            raise RuntimeError(f"{host.name}: systemd-nspawn exited {host.process.returncode}:\n{host.log.read_text()}")
        done = run([*host.ssh_base, f"root@{host.address}", "systemctl is-system-running --wait"], check=False)
        if done.stdout.strip() in ("running", "degraded"):
            return
        time.sleep(0.2)
    raise RuntimeError(f"{host.name}: no SSH within {BOOT_TIMEOUT:.0f} s:\n{host.log.read_text()[-3000:]}")
