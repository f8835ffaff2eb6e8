"""``configs/mesh.yaml``: the hosts of the mesh with their houses and roles, the forge lease, peer probing and
the Syncthing folder. Without a file the mesh is this host alone; unknown keys are errors naming the file
and the key.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..config import ROLES
from ..configfile import load_model
from ..reporef import RepoName
from .reconcile import ReconcileSettings

__all__ = ["HostEntry", "LeaseSettings", "MeshConfig", "PeerSettings", "SyncthingSettings", "load_mesh_config"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HostEntry(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$", description="The host's name (its `host` setting).")
    url: str = Field(description="Base URL of the host's daemon, e.g. http://10.0.0.2:8643 (its /health).")
    houses: tuple[str, ...] = Field((), description="Houses whose workers or reviewer run on the host.")
    roles: tuple[str, ...] = Field((), description=f"Daemon roles on the host: {', '.join(ROLES)}.")

    @model_validator(mode="after")
    def _known_roles(self) -> HostEntry:
        unknown = sorted(set(self.roles) - set(ROLES))
        if unknown:
            raise ValueError(f"unknown role {unknown[0]!r} (known: {', '.join(ROLES)})")
        return self


class LeaseSettings(_Strict):
    """The dispatcher lease: a JSON file on ``branch`` of the mesh repository, written with compare-and-swap."""

    repo: RepoName = Field("mesh/mesh", description="owner/name of the mesh repository.")
    branch: str = Field("mesh-state", description="The unprotected branch holding lease files.")
    path: str = Field("leases/dispatcher.json", description="The lease file on that branch.")
    ttl_seconds: float = Field(6.0, gt=0, description="A lease not renewed for this long has lapsed.")
    renew_seconds: float = Field(2.0, gt=0, description="How often the holder renews.")
    margin_seconds: float = Field(2.0, ge=0, description="The holder stops mutating this long before expiry.")
    max_clock_skew_seconds: float = Field(
        1.0, ge=0, description="A standby waits this long past the recorded expiry before taking over."
    )
    standby_poll_seconds: float = Field(1.0, gt=0, description="How often a standby reads the lease.")

    @model_validator(mode="after")
    def _coherent(self) -> LeaseSettings:
        if self.renew_seconds + self.margin_seconds >= self.ttl_seconds:
            raise ValueError("renew_seconds + margin_seconds must be less than ttl_seconds, or the holder idles")
        return self


class PeerSettings(_Strict):
    probe_seconds: float = Field(3.0, gt=0, description="How often each peer's /health is probed.")
    timeout_seconds: float = Field(2.0, gt=0, description="A probe that takes longer counts as down.")
    heartbeat_stale_seconds: float = Field(30.0, gt=0, description="A heartbeat older than this is stale.")


class SyncthingSettings(_Strict):
    url: str = Field("http://127.0.0.1:8384", description="Syncthing's REST API (key: syncthing_api_key setting).")
    folder_id: str = Field("uni-wizard", description="The shared folder's id.")
    folder_path: Path = Field(description="Where the shared folder lives on this host.")
    heartbeat_seconds: float = Field(3.0, gt=0, description="How often this host writes its heartbeat.json.")
    read_seconds: float = Field(2.0, gt=0, description="How often other hosts' files are read.")


class MeshConfig(_Strict):
    hosts: tuple[HostEntry, ...] = Field((), description="Every host of the mesh (this one included).")
    lease: LeaseSettings = LeaseSettings()
    peers: PeerSettings = PeerSettings()
    syncthing: SyncthingSettings | None = Field(None, description="Absent: heartbeats over HTTP only.")
    reconcile: ReconcileSettings = ReconcileSettings()

    @model_validator(mode="after")
    def _unique_hosts(self) -> MeshConfig:
        names = [h.name for h in self.hosts]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"host {dup[0]!r} is listed twice")
        self.reconcile.check_hosts(set(names))
        return self

    def host(self, name: str) -> HostEntry | None:
        return next((h for h in self.hosts if h.name == name), None)

    def peers_of(self, name: str) -> tuple[HostEntry, ...]:
        """Every host but ``name``."""
        return tuple(h for h in self.hosts if h.name != name)


def load_mesh_config(path: Path | None) -> MeshConfig:
    """``path`` parsed and validated; ``None`` gives the mesh of one host (defaults, no peers, no Syncthing)."""
    return load_model(MeshConfig, path, kind="a mesh file")
