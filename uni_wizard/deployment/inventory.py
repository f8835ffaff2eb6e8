"""The deploy inventory: which SSH address reaches each host of ``mesh.yaml``, and what to ship to it.

``mesh.yaml`` stays the only source of host names, houses and roles; the inventory file adds how to
reach the hosts and what they get::

    mesh: mesh.yaml              # relative to this file
    ssh: {user: root, key: ~/.ssh/id_ed25519, port: 22, known_hosts: ~/.ssh/known_hosts}
    addresses: {vps-a: 203.0.113.7}   # default: the host part of the host's url
    settings: {gitea_url: "https://forge.example"}   # shared by every role daemon (no secrets here)
    secrets_dir: secrets         # <dir>/<host>/<name> or <dir>/<name>, name in SECRET_NAMES
    wheelhouse: wheelhouse       # default: built from this installation at deploy time

``plan_hosts`` turns it into one ``HostPlan`` per host; ``HostPlan.pyinfra_data`` is what the pyinfra
inventory (``deploy/inventory.py``) hands to ``deploy/deploy.py``.

The mesh's configuration lives where the reconciler installs it (``/etc/uni-wizard/houses/*.yaml``,
``/etc/uni-wizard/configs/*.yaml``, see ``layout.py``) and every role's settings point there
(``houses_dir``, ``mesh_config``, ``triage_config``, ...). The deploy only *seeds* these files
(``HostPlan.seed_files``: the shipped houses and configs, ``configs/mesh.yaml`` from the inventory's mesh
file) when a host lacks them; once seeded the reconciler owns them, so a re-deploy never undoes an
applied upgrade. Change them through an upgrade PR of the mesh repository.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field

from ..config import Settings, default_houses_dir
from ..configfile import load_model
from ..errors import ConfigError
from ..meshfile.schema import HostEntry, MeshConfig, load_mesh_config
from . import layout

__all__ = ["DeployInventory", "HostPlan", "load_inventory", "plan_hosts"]

# Settings the deploy writes itself for every role daemon; an inventory may not set them.
MANAGED_SETTINGS = frozenset(
    {"host", "roles", "house", "port", "data_dir", "houses_dir", *layout.CONFIG_SETTINGS.values()}
    | set(layout.SECRET_NAMES)
    | {f"{name}_file" for name in layout.SECRET_NAMES}
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SshSettings(_Strict):
    user: str = Field("root", description="The SSH user (it must be root or have sudo without a password).")
    port: int = Field(22, ge=1, le=65535)
    key: Path | None = Field(None, description="Private key file; default: the SSH agent or ~/.ssh.")
    known_hosts: Path | None = Field(None, description="known_hosts file; default: ~/.ssh/known_hosts.")
    strict_host_key_checking: Literal["yes", "no", "accept-new"] = "yes"
    connect_retries: int = Field(2, ge=0, le=10)


class DeployInventory(_Strict):
    mesh: Path = Field(description="The mesh file (hosts, houses, roles); relative to the inventory file.")
    ssh: SshSettings = SshSettings()
    addresses: dict[str, str] = Field({}, description="SSH address per host name; default: its url's host.")
    settings: dict[str, Any] = Field({}, description="Settings shared by every role daemon (never secrets).")
    secrets_dir: Path | None = Field(None, description="Secret files: <dir>/<host>/<name> or <dir>/<name>.")
    wheelhouse: Path | None = Field(None, description="Wheels of uni-wizard and its dependencies.")
    python: str = Field("/usr/bin/python3", description="The hosts' Python 3.11+ (with the venv module).")


@dataclass(frozen=True)
class HostPlan:
    """Everything one host gets: its roles, the files under /etc/uni-wizard, the secret files to copy."""

    name: str
    address: str
    roles: tuple[str, ...]
    config_files: dict[str, str]
    secrets: dict[str, Path]
    seed_files: dict[str, str] = field(default_factory=dict)
    ssh: dict[str, Any] = field(default_factory=dict)

    def pyinfra_data(self) -> dict[str, Any]:
        """Host data for pyinfra (plain values only: strings, lists, dicts)."""
        return {
            **self.ssh,
            "uw_roles": list(self.roles),
            "uw_config_files": dict(self.config_files),
            "uw_seed_files": dict(self.seed_files),
            "uw_secrets": {name: str(path) for name, path in self.secrets.items()},
        }


def load_inventory(path: Path) -> DeployInventory:
    """``path`` parsed and validated; relative paths in it become relative to its directory."""
    inventory = load_model(DeployInventory, path, kind="an inventory")
    base = path.resolve().parent
    ssh = inventory.ssh.model_copy(
        update={
            "key": _resolve(base, inventory.ssh.key),
            "known_hosts": _resolve(base, inventory.ssh.known_hosts),
        }
    )
    return inventory.model_copy(
        update={
            "mesh": _resolve(base, inventory.mesh),
            "ssh": ssh,
            "secrets_dir": _resolve(base, inventory.secrets_dir),
            "wheelhouse": _resolve(base, inventory.wheelhouse),
        }
    )


def _resolve(base: Path, path: Path | None) -> Path | None:
    return None if path is None else (base / path.expanduser()).resolve()


def plan_hosts(inventory: DeployInventory, *, source: str = "inventory") -> list[HostPlan]:
    """One plan per host of the mesh, in mesh order. Errors name the inventory key at fault."""
    mesh = load_mesh_config(inventory.mesh)
    if not mesh.hosts:
        raise ConfigError("the mesh lists no hosts: nothing to deploy", source=str(inventory.mesh), key="hosts")
    _check_inventory(inventory, mesh, source)
    seeds = _seed_files(inventory.mesh.read_text(encoding="utf-8"))
    return [_plan(inventory, host, seeds, source) for host in mesh.hosts]


def _seed_files(mesh_text: str) -> dict[str, str]:
    """The files a host's config directory starts with: the shipped houses and configs, the mesh file."""
    seeds = {
        str(layout.HOUSES_DIR / path.name): path.read_text(encoding="utf-8")
        for path in sorted(default_houses_dir().glob("*.yaml"))
    }
    shipped = _shipped_configs()
    for name in layout.CONFIG_SETTINGS:
        if name != "mesh.yaml" and (shipped / name).is_file():
            seeds[str(layout.CONFIGS_DIR / name)] = (shipped / name).read_text(encoding="utf-8")
    seeds[str(layout.CONFIGS_DIR / "mesh.yaml")] = mesh_text
    return seeds


def _shipped_configs() -> Path:
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / "_defaults" / "configs", package.parent / "configs"):
        if candidate.is_dir():
            return candidate
    return package / "_defaults" / "configs"


def _check_inventory(inventory: DeployInventory, mesh: MeshConfig, source: str) -> None:
    for name in inventory.addresses:
        if mesh.host(name) is None:
            raise ConfigError(f"{name!r} is not a host of {inventory.mesh}", source=source, key=f"addresses.{name}")
    for key in inventory.settings:
        if key in MANAGED_SETTINGS:
            raise ConfigError("set by the deploy for each host and role", source=source, key=f"settings.{key}")
        if key not in Settings.model_fields:
            raise ConfigError("unknown setting", source=source, key=f"settings.{key}")


def _plan(inventory: DeployInventory, host: HostEntry, seeds: dict[str, str], source: str) -> HostPlan:
    address = inventory.addresses.get(host.name) or urlsplit(host.url).hostname
    if not address:
        raise ConfigError(f"no address for host {host.name!r}: its url has no host", source=source, key="addresses")
    secrets = _secrets_of(inventory.secrets_dir, host.name)
    files = {}
    for role in host.roles:
        settings = _role_settings(inventory, host, role, secrets, source, seeds)
        files[str(layout.role_config(role))] = yaml.safe_dump(settings, sort_keys=True)
    return HostPlan(
        name=host.name,
        address=address,
        roles=host.roles,
        config_files=files,
        secrets=secrets,
        ssh=_ssh_data(inventory, address),
        seed_files=seeds,
    )


def _secrets_of(directory: Path | None, host: str) -> dict[str, Path]:
    found: dict[str, Path] = {}
    if directory is None:
        return found
    for name in layout.SECRET_NAMES:
        for candidate in (directory / host / name, directory / name):
            if candidate.is_file():
                found[name] = candidate
                break
    return found


def _role_settings(
    inventory: DeployInventory,
    host: HostEntry,
    role: str,
    secrets: dict[str, Path],
    source: str,
    seeds: dict[str, str],
) -> dict[str, Any]:
    values: dict[str, Any] = {"bind": _bind_address(host.url), **inventory.settings}
    values.update(host=host.name, roles=[role], port=layout.role_port(host, role))
    values["houses_dir"] = str(layout.HOUSES_DIR)
    for name, setting in layout.CONFIG_SETTINGS.items():
        if str(layout.CONFIGS_DIR / name) in seeds:
            values[setting] = str(layout.CONFIGS_DIR / name)
    if len(host.houses) == 1:
        values["house"] = host.houses[0]
    elif role in ("worker", "reviewer"):
        raise ConfigError(
            f"host {host.name!r} runs the {role} role, which acts as one house, but lists {len(host.houses)}",
            source=str(inventory.mesh),
            key=f"hosts.{host.name}.houses",
        )
    for name in secrets:
        values[f"{name}_file"] = str(layout.credential_path(role, name))
    return values


def _bind_address(url: str) -> str:
    """The url's host when it is an IP address (listen only there), else every address."""
    hostname = urlsplit(url).hostname or ""
    try:
        ipaddress.ip_address(hostname)
    except ValueError:
        return "0.0.0.0"  # noqa: S104 - a named host: the daemon must answer on its public address
    return hostname


def _ssh_data(inventory: DeployInventory, address: str) -> dict[str, Any]:
    ssh = inventory.ssh
    data: dict[str, Any] = {
        "ssh_hostname": address,
        "ssh_user": ssh.user,
        "ssh_port": ssh.port,
        "ssh_strict_host_key_checking": ssh.strict_host_key_checking,
        "ssh_connect_retries": ssh.connect_retries,
    }
    if ssh.key is not None:
        data["ssh_key"] = str(ssh.key)
    if ssh.known_hosts is not None:
        data["ssh_known_hosts_file"] = str(ssh.known_hosts)
    return data
