"""A mesh deployed for real: nspawn hosts (nspawn_hosts.py), a mesh.yaml and deploy inventory naming them,
and `uni-wizard deploy` run over SSH. Reusable by the end-to-end tests::

    with deployed_mesh(workdir, wheelhouse, MESH_HOSTS, settings={"gitea_url": ...}) as mesh:
        mesh.url("alpha", "worker")        # http://<net>.11:18644, reachable from the test
        mesh.deploy()                      # again: a DeployReport

``settings`` go to every role daemon; ``{net}`` in a value becomes the test network's prefix, so a forge
served by the test on ``{net}.1`` is reachable from the hosts. ``mesh_extra`` adds top-level sections to
mesh.yaml (e.g. ``reconcile``; ``{net}`` replaced likewise in string values); ``before_deploy(hosts, workdir)``
runs once the hosts are up and the inventory is written (start a forge on the bridge, write per-host
secrets under ``workdir/secrets/<host>/``).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from nspawn_hosts import Hosts, boot_hosts

from uni_wizard.deployment.runner import DeployReport, run_deploy
from uni_wizard.meshfile.schema import MeshConfig

BASE_PORT = 18643
SECRETS = {"api_token": "test-api-token", "gitea_token": "test-gitea-token", "webhook_secret": "test-webhook"}


@dataclass(frozen=True)
class MeshHost:
    name: str
    houses: tuple[str, ...]
    roles: tuple[str, ...]


@dataclass
class DeployedMesh:
    hosts: Hosts
    inventory: Path
    wheelhouse: Path
    mesh: MeshConfig
    reports: list[DeployReport] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def url(self, host: str, role: str) -> str:
        from uni_wizard.deployment.layout import role_port

        entry = self.mesh.host(host)
        assert entry is not None
        return f"http://{self.hosts[host].address}:{role_port(entry, role)}"

    def deploy(self, *, dry: bool = False) -> DeployReport:
        started = time.monotonic()
        report = run_deploy(self.inventory, self.wheelhouse, dry=dry)
        self.timings[f"deploy_{len(self.reports) + 1}_seconds"] = time.monotonic() - started
        self.reports.append(report)
        return report


def _with_net(value: Any, net: str) -> Any:
    if isinstance(value, str):
        return value.replace("{net}", net)
    if isinstance(value, Mapping):
        return {k: _with_net(v, net) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_with_net(v, net) for v in value]
    return value


def write_inventory(
    workdir: Path,
    hosts: Hosts,
    members: Sequence[MeshHost],
    settings: Mapping[str, Any],
    mesh_extra: Mapping[str, Any] | None = None,
) -> tuple[Path, MeshConfig]:
    """mesh.yaml (the hosts at their test addresses), the secrets and the deploy inventory, in ``workdir``."""
    mesh_data: dict[str, Any] = {
        **_with_net(dict(mesh_extra or {}), hosts.network),
        "hosts": [
            {
                "name": m.name,
                "url": f"http://{hosts[m.name].address}:{BASE_PORT}",
                "houses": list(m.houses),
                "roles": list(m.roles),
            }
            for m in members
        ],
    }
    (workdir / "mesh.yaml").write_text(yaml.safe_dump(mesh_data))
    secrets = workdir / "secrets"
    secrets.mkdir(mode=0o700)
    for name, value in SECRETS.items():
        (secrets / name).write_text(value + "\n")
        (secrets / name).chmod(0o600)
    inventory = {
        "mesh": "mesh.yaml",
        "ssh": {
            "user": "root",
            "key": str(hosts.ssh_key),
            "known_hosts": str(hosts.known_hosts),
            "strict_host_key_checking": "accept-new",
        },
        "settings": {k: v.replace("{net}", hosts.network) if isinstance(v, str) else v for k, v in settings.items()},
        "secrets_dir": "secrets",
    }
    path = workdir / "inventory.yaml"
    path.write_text(yaml.safe_dump(inventory))
    return path, MeshConfig.model_validate(mesh_data)


@contextlib.contextmanager
def deployed_mesh(
    workdir: Path,
    wheelhouse: Path,
    members: Sequence[MeshHost],
    *,
    settings: Mapping[str, Any] | None = None,
    mesh_extra: Mapping[str, Any] | None = None,
    before_deploy: Callable[[Hosts, Path], None] | None = None,
) -> Iterator[DeployedMesh]:
    """Boot one host per member, deploy once (the first deploy's report is ``reports[0]``), yield."""
    with boot_hosts(workdir / "hosts", [m.name for m in members]) as hosts:
        values = settings or {"gitea_url": "http://{net}.1:9"}
        inventory, mesh = write_inventory(workdir, hosts, members, values, mesh_extra)
        if before_deploy is not None:
            before_deploy(hosts, workdir)
        deployed = DeployedMesh(hosts, inventory, wheelhouse, mesh, timings=dict(hosts.timings))
        deployed.deploy()
        yield deployed
