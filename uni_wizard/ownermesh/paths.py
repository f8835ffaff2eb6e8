"""Where each file of an owner's mesh directory lives, and ``forge.yaml``: the forge ``init`` chose.

DIR/forge.yaml            the forge (devforge or gitea), its URL (and the devforge's port), the owner,
                          the repositories
DIR/mesh.yaml             the mesh file: one host per daemon process (name, url, houses, roles)
DIR/settings/NAME.yaml    the settings of the daemon process NAME (``up`` runs one per file)
DIR/configs/              triage.yaml, review.yaml (and cascade.yaml when a local model answered)
DIR/secrets/              0700; 0600 files: passwords, tokens, the webhook secret, the daemons' API token
DIR/forge/                the devforge's database and git repositories (devforge only)
DIR/data/NAME/            the data directory of daemon NAME (its store, workspace, artifacts)
DIR/logs/NAME.log         what each child process printed (``up``)
DIR/up.lock               held by a running ``up``
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ..configfile import load_model
from ..reporef import RepoName

__all__ = ["DEVFORGE_ADMIN", "ForgeFile", "MeshDir", "load_forge_file"]

DEVFORGE_ADMIN = "forge-admin"
"""The devforge's site admin (its ``USER:PASSWORD`` is ``DIR/secrets/forge-admin``)."""


class ForgeFile(BaseModel):
    """``DIR/forge.yaml``: what ``init`` chose, read again by ``init`` (idempotence) and by ``up``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    forge: Literal["devforge", "gitea"] = Field(description="An embedded devforge, or a real Gitea.")
    url: str = Field(description="The forge's root URL.")
    port: int | None = Field(None, ge=1, le=65535, description="devforge: the port `up` serves it on.")
    owner: str = Field(description="The owner's forge login.")
    work_repo: RepoName = Field(description="owner/name of the work repository.")
    mesh_repo: RepoName = Field(description="owner/name of the mesh repository.")


def load_forge_file(path: Path) -> ForgeFile:
    return load_model(ForgeFile, path, kind="forge.yaml")


@dataclass(frozen=True)
class MeshDir:
    """The files of the owner's mesh at ``root``."""

    root: Path

    @property
    def forge_file(self) -> Path:
        return self.root / "forge.yaml"

    @property
    def mesh_file(self) -> Path:
        return self.root / "mesh.yaml"

    @property
    def settings_dir(self) -> Path:
        return self.root / "settings"

    @property
    def configs_dir(self) -> Path:
        return self.root / "configs"

    @property
    def secrets_dir(self) -> Path:
        return self.root / "secrets"

    @property
    def forge_data(self) -> Path:
        return self.root / "forge"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def lock_file(self) -> Path:
        return self.root / "up.lock"

    def settings(self, name: str) -> Path:
        return self.settings_dir / f"{name}.yaml"

    def config(self, name: str) -> Path:
        return self.configs_dir / name

    def secret(self, name: str) -> Path:
        return self.secrets_dir / name

    def data(self, name: str) -> Path:
        return self.root / "data" / name

    def log(self, name: str) -> Path:
        return self.logs_dir / f"{name}.log"

    def is_mesh(self) -> bool:
        """``root`` holds a mesh made by ``init`` (its ``forge.yaml``)."""
        return self.forge_file.is_file()
