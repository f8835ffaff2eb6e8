"""Syncthing for a deployed mesh, in two phases (only when ``mesh.yaml`` has a ``syncthing`` section).

1. pyinfra (``deploy/syncthing.py``) on each host: the package, ``config.xml`` seeded before the first start
   (GUI/API on 127.0.0.1:8384 with the host's ``syncthing_api_key``, BEP on ``tcp://:22000``, discovery, relays,
   NAT, usage and crash reporting off), the hardening drop-in for Debian's ``syncthing@uni-wizard.service``,
   the shared folder's directory owned by uni-wizard, the service running and enabled.
2. ``pair_mesh`` (run by ``uni-wizard deploy`` after pyinfra, through SSH port forwarding, see
   ``syncthing_tunnel.py``): every host's device id read from ``/rest/system/status``, every other host added
   as a device, the folder shared with all of them. Only the host earlier in mesh order dials (it knows the
   later one by ``tcp://<address>:22000``; the later one knows it as ``dynamic``): two hosts dialing each other
   at once stall the TLS handshake for 20 s. Each setting is compared before it is written, so a second run
   changes nothing and reports "no change".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any
from xml.sax.saxutils import escape

import httpx

from ..configfile import model_from_data, parse_yaml
from ..errors import ConfigError, DeployFailed
from ..meshfile.schema import MeshConfig, SyncthingSettings
from . import layout

__all__ = [
    "API_PORT",
    "BEP_PORT",
    "CLOSED_MESH_OPTIONS",
    "HOME",
    "UNIT",
    "HostResult",
    "SyncthingHost",
    "host_syncthing",
    "pair_mesh",
    "seed_config",
]

UNIT = f"syncthing@{layout.SERVICE_USER}.service"
STATE_DIR = PurePosixPath("/var/lib/uni-wizard")
HOME = STATE_DIR / "syncthing"
API_PORT = 8384
BEP_PORT = 22000
CONFIG_VERSION = 36  # Syncthing 1.19 (Debian 12) refuses a newer config.xml
CLOSED_MESH_OPTIONS: dict[str, Any] = {
    "globalAnnounceEnabled": False,
    "localAnnounceEnabled": False,
    "relaysEnabled": False,
    "natEnabled": False,
    "startBrowser": False,
    "urAccepted": -1,
    "crashReportingEnabled": False,
    "autoUpgradeIntervalH": 0,
}
"""Options every mesh host gets: no discovery, relays, NAT traversal, usage or crash reports, upgrades."""


def host_syncthing(
    config_files: dict[str, str], secrets: dict[str, str], *, dry: bool = False
) -> tuple[SyncthingSettings, str | None] | None:
    """``(settings, api key file)`` of a host from its pyinfra data (``uw_seed_files``, which hold the inventory's
    mesh.yaml as ``configs/mesh.yaml``, and the secret files), or ``None`` when the mesh has no ``syncthing``
    section. Without the ``syncthing_api_key`` secret: a ``ConfigError``, except in a dry run (``dry``), which
    shows the rest of the plan with ``None`` for the key file (a real deploy stops there)."""
    mesh_file = str(layout.CONFIGS_DIR / "mesh.yaml")
    mesh = model_from_data(
        MeshConfig, parse_yaml(config_files[mesh_file], source=mesh_file), source=mesh_file, kind="a mesh file"
    )
    if mesh.syncthing is None:
        return None
    check_folder_path(mesh.syncthing, mesh_file)
    key_file = secrets.get("syncthing_api_key")
    if not key_file:
        if dry:
            return mesh.syncthing, None
        raise ConfigError(
            "the mesh has a syncthing section but no syncthing_api_key secret is shipped", key="secrets_dir"
        )
    return mesh.syncthing, key_file


def check_folder_path(settings: SyncthingSettings, source: str) -> None:
    """The daemons write their heartbeats into the folder and may only write under their StateDirectory."""
    path = PurePosixPath(settings.folder_path)
    if not path.is_relative_to(STATE_DIR) or path in (STATE_DIR, HOME):
        raise ConfigError(
            f"a deployed mesh keeps the Syncthing folder under {STATE_DIR}/ (the daemons' only writable place), "
            f"for example {STATE_DIR}/mesh",
            source=source,
            key="syncthing.folder_path",
        )


def seed_config(api_key: str, device_name: str) -> str:
    """``config.xml`` for the first start: nothing listens or announces beyond what the mesh needs."""
    options = "\n".join(
        f"        <{name}>{str(value).lower() if isinstance(value, bool) else value}</{name}>"
        for name, value in CLOSED_MESH_OPTIONS.items()
    )
    return (
        f'<configuration version="{CONFIG_VERSION}">\n'
        f'    <gui enabled="true" tls="false">\n'
        f"        <address>127.0.0.1:{API_PORT}</address>\n"
        f"        <apikey>{escape(api_key)}</apikey>\n"
        f"    </gui>\n"
        f"    <options>\n"
        f"        <listenAddress>tcp://:{BEP_PORT}</listenAddress>\n"
        f"{options}\n"
        f"        <reconnectionIntervalS>10</reconnectionIntervalS>\n"
        f"    </options>\n"
        f"    <!-- {escape(device_name)}: devices and folders are added over the REST API by uni-wizard deploy -->\n"
        f"</configuration>\n"
    )


@dataclass(frozen=True)
class SyncthingHost:
    """One host as the pairing sees it: its API (reachable from here) and how peers reach its BEP listener."""

    name: str
    api_url: str
    api_key: str
    address: str  # tcp://<address>:22000
    folder_path: str


@dataclass
class HostResult:
    name: str
    device_id: str = ""
    changes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return f"{self.name}: " + ("; ".join(self.changes) if self.changes else "no change")


class _Api:
    def __init__(self, host: SyncthingHost, client: httpx.Client, *, dry: bool) -> None:
        self.host, self.client, self.dry = host, client, dry

    def call(self, method: str, path: str, body: Any = None, *, missing_ok: bool = False) -> Any:
        try:
            response = self.client.request(
                method, self.host.api_url + path, json=body, headers={"X-API-Key": self.host.api_key}
            )
        except httpx.HTTPError as exc:
            raise DeployFailed(f"syncthing on {self.host.name}: {method} {path}: {exc!r}") from exc
        if missing_ok and response.status_code == 404:
            return None
        if response.status_code >= 400:
            raise DeployFailed(
                f"syncthing on {self.host.name}: {method} {path}: HTTP {response.status_code} {response.text[:300]}"
            )
        return response.json() if response.content.strip() else None

    def write(self, method: str, path: str, body: Any) -> None:
        if not self.dry:
            self.call(method, path, body)


def pair_mesh(
    hosts: Sequence[SyncthingHost], folder_id: str, *, dry: bool = False, timeout: float = 15.0
) -> list[HostResult]:
    """Pair every host with every other and share ``folder_id``; with ``dry``, only report what would change.
    Hosts are configured last first (the acceptors), so a dialer finds its peer ready."""
    if len({h.name for h in hosts}) != len(hosts):
        raise DeployFailed("two Syncthing hosts share a name")
    with httpx.Client(timeout=timeout) as client:
        apis = [_Api(h, client, dry=dry) for h in hosts]
        ids = [str(api.call("GET", "/rest/system/status")["myID"]) for api in apis]
        results = [HostResult(h.name, device_id) for h, device_id in zip(hosts, ids, strict=True)]
        for index in reversed(range(len(hosts))):
            api, result = apis[index], results[index]
            _options(api, result)
            for other in range(len(hosts)):
                if other != index:
                    # only the earlier host dials; the later one waits for it ("dynamic", discovery is off)
                    address = hosts[other].address if other > index else "dynamic"
                    _device(api, result, ids[other], hosts[other].name, address)
            _folder(api, result, folder_id, ids)
    return results


def _options(api: _Api, result: HostResult) -> None:
    current = api.call("GET", "/rest/config/options")
    wrong = {k: v for k, v in CLOSED_MESH_OPTIONS.items() if current.get(k) != v}
    if wrong:
        api.write("PATCH", "/rest/config/options", wrong)
        result.changes.append("options " + ", ".join(sorted(wrong)))


def _device(api: _Api, result: HostResult, device_id: str, name: str, address: str) -> None:
    known = {d["deviceID"]: d for d in api.call("GET", "/rest/config/devices")}
    wanted = {"name": name, "addresses": [address]}
    current = known.get(device_id)
    if current is None:
        api.write("POST", "/rest/config/devices", {"deviceID": device_id, **wanted})
        result.changes.append(f"device {name} added ({address})")
    elif {k: current.get(k) for k in wanted} != wanted:
        api.write("PATCH", f"/rest/config/devices/{device_id}", wanted)
        result.changes.append(f"device {name} updated ({address})")


def _folder(api: _Api, result: HostResult, folder_id: str, ids: list[str]) -> None:
    wanted: dict[str, Any] = {
        "path": api.host.folder_path,
        "type": "sendreceive",
        "devices": [{"deviceID": d} for d in ids],
    }
    current = api.call("GET", f"/rest/config/folders/{folder_id}", missing_ok=True)
    if current is None:
        body = {"id": folder_id, "label": folder_id, "fsWatcherEnabled": True, "fsWatcherDelayS": 1, **wanted}
        api.write("POST", "/rest/config/folders", body)
        result.changes.append(f"folder {folder_id} shared with {len(ids) - 1} peer(s)")
        return
    have = {d["deviceID"] for d in current.get("devices") or ()}
    diff = [k for k in ("path", "type") if current.get(k) != wanted[k]]
    if have != set(ids):
        diff.append("devices")
    if diff:
        api.write("PATCH", f"/rest/config/folders/{folder_id}", {k: wanted[k] for k in diff})
        result.changes.append(f"folder {folder_id} updated ({', '.join(diff)})")
