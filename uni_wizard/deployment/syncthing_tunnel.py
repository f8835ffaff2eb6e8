"""Phase 2 of the Syncthing setup (``uni-wizard deploy``, after pyinfra): reach every host's Syncthing API, which
listens on the host's 127.0.0.1 only, through ``ssh -L`` (the inventory's SSH settings), and pair the mesh.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

from ..config import read_secret_file
from ..errors import ConfigError, DeployFailed
from ..meshfile.schema import SyncthingSettings, load_mesh_config
from .inventory import HostPlan, load_inventory, plan_hosts
from .syncthing_setup import API_PORT, BEP_PORT, HostResult, SyncthingHost, check_folder_path, pair_mesh

__all__ = ["api_tunnel", "run_syncthing_setup", "ssh_forward_argv", "wait_connected"]

READY_TIMEOUT = 60.0
CONNECT_TIMEOUT = 60.0


def ssh_forward_argv(plan: HostPlan, local_port: int) -> list[str]:
    """``ssh -N -L 127.0.0.1:<local_port>:127.0.0.1:8384`` to the host, with the inventory's SSH settings."""
    ssh = plan.ssh
    argv = ["ssh", "-N", "-o", "BatchMode=yes", "-o", "ExitOnForwardFailure=yes", "-o", "ConnectTimeout=15"]
    argv += ["-o", f"StrictHostKeyChecking={ssh.get('ssh_strict_host_key_checking', 'yes')}"]
    if ssh.get("ssh_known_hosts_file"):
        argv += ["-o", f"UserKnownHostsFile={ssh['ssh_known_hosts_file']}"]
    if ssh.get("ssh_key"):
        argv += ["-i", str(ssh["ssh_key"]), "-o", "IdentitiesOnly=yes"]
    argv += ["-p", str(ssh.get("ssh_port", 22)), "-L", f"127.0.0.1:{local_port}:127.0.0.1:{API_PORT}"]
    return [*argv, f"{ssh.get('ssh_user', 'root')}@{plan.address}"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def api_tunnel(plan: HostPlan, api_key: str, *, timeout: float = READY_TIMEOUT) -> Iterator[str]:
    """The URL of the host's Syncthing API through an SSH tunnel, once it answers (the ssh process is ours and
    is stopped on exit)."""
    port = _free_port()
    proc = subprocess.Popen(
        ssh_forward_argv(plan, port), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        last = ""
        while True:
            if proc.poll() is not None:
                err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                raise DeployFailed(f"ssh tunnel to {plan.name} exited ({proc.returncode}): {err[-500:]}")
            try:
                pong = httpx.get(f"{url}/rest/system/ping", headers={"X-API-Key": api_key}, timeout=3)
                if pong.status_code == 200:
                    break
                last = f"HTTP {pong.status_code}"
            except httpx.HTTPError as exc:
                last = repr(exc)
            if time.monotonic() > deadline:
                raise DeployFailed(f"Syncthing on {plan.name} did not answer within {timeout:g} s ({last})")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        if proc.stderr:
            proc.stderr.close()


def wait_connected(hosts: list[SyncthingHost], results: list[HostResult], *, timeout: float = CONNECT_TIMEOUT) -> bool:
    """Wait until every host sees every other one connected; ``False`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if all(_all_connected(h, r, results) for h, r in zip(hosts, results, strict=True)):
                return True
        except httpx.HTTPError:
            pass  # the API is restarting or briefly busy: the next round asks again
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)


def _all_connected(host: SyncthingHost, result: HostResult, results: list[HostResult]) -> bool:
    response = httpx.get(f"{host.api_url}/rest/system/connections", headers={"X-API-Key": host.api_key}, timeout=5)
    response.raise_for_status()
    links = response.json().get("connections") or {}
    peers = [r.device_id for r in results if r is not result]
    return all((links.get(peer) or {}).get("connected") for peer in peers)


def syncthing_plan(inventory_path: Path) -> tuple[SyncthingSettings, list[HostPlan], dict[str, str]] | None:
    """What the pairing needs, checked before anything connects: the mesh's ``syncthing`` section, the
    hosts, and each host's API key; ``None`` when the mesh has no ``syncthing`` section."""
    inventory = load_inventory(inventory_path)
    mesh = load_mesh_config(inventory.mesh)
    if mesh.syncthing is None:
        return None
    settings = mesh.syncthing
    check_folder_path(settings, str(inventory.mesh))
    plans = plan_hosts(inventory, source=str(inventory_path))
    keys = {}
    for plan in plans:
        key_file = plan.secrets.get("syncthing_api_key")
        if key_file is None:
            raise ConfigError(
                f"the mesh has a syncthing section, but no syncthing_api_key secret for host {plan.name!r} "
                f"(<secrets_dir>/{plan.name}/syncthing_api_key or <secrets_dir>/syncthing_api_key)",
                source=str(inventory_path),
                key="secrets_dir",
            )
        keys[plan.name] = read_secret_file(key_file, source=str(inventory_path), key="secrets_dir")
    return settings, plans, keys


def run_syncthing_setup(inventory_path: Path, *, dry: bool = False) -> list[str] | None:
    """Pair the Syncthing instances of every host of the inventory's mesh; ``None`` when the mesh has no
    ``syncthing`` section. One summary line per host ("no change" when nothing was written)."""
    planned = syncthing_plan(inventory_path)
    if planned is None:
        return None
    settings, plans, keys = planned
    with ExitStack() as stack:
        hosts = [
            SyncthingHost(
                name=plan.name,
                api_url=stack.enter_context(api_tunnel(plan, keys[plan.name])),
                api_key=keys[plan.name],
                address=f"tcp://{plan.address}:{BEP_PORT}",
                folder_path=str(settings.folder_path),
            )
            for plan in plans
        ]
        results = pair_mesh(hosts, settings.folder_id, dry=dry)
        lines = [r.summary() for r in results]
        if not dry and len(hosts) > 1:
            ok = wait_connected(hosts, results)
            lines.append("all devices connected" if ok else f"not all devices connected within {CONNECT_TIMEOUT:g} s")
    return lines
