"""``Configs``: every configuration file a process reads, each loaded once, when it is first needed.

    configs = Configs(settings)
    configs.triage.dispatcher.repos      # configs/triage.yaml (triage_config, else the shipped one)
    configs.mesh.lease                   # configs/mesh.yaml (mesh_config, else the mesh of one host)

A file that cannot be loaded raises its ``ConfigError`` each time it is asked for (nothing is cached then),
so the daemon's preflight and the role that needs the file name the same file and key.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from ..cascade.config import CascadeConfig, load_cascade_config
from ..config import Settings
from ..dispatch.config import TriageConfig, default_triage_path, load_triage_config
from ..meshfile.schema import MeshConfig, load_mesh_config
from ..review.config import ReviewConfig, default_review_path, load_review_config
from ..upgrade.config import UpgradeConfig, load_upgrade_config

__all__ = ["Configs"]


class Configs:
    """The configuration files named by ``settings`` (``*_config``; unset: the shipped file)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @cached_property
    def triage(self) -> TriageConfig:
        return load_triage_config(self.settings.triage_config)

    @cached_property
    def review(self) -> ReviewConfig:
        return load_review_config(self.settings.review_config)

    @cached_property
    def upgrades(self) -> UpgradeConfig:
        return load_upgrade_config(self.settings.upgrades_config)

    @cached_property
    def mesh(self) -> MeshConfig:
        return load_mesh_config(self.settings.mesh_config)

    @cached_property
    def cascade(self) -> CascadeConfig:
        return load_cascade_config(self.settings.cascade_config)

    @property
    def triage_path(self) -> Path:
        """The triage file in use (what an error about ``dispatcher.*`` names)."""
        return self.settings.triage_config or default_triage_path()

    @property
    def review_path(self) -> Path:
        """The review file in use (what an error about the reviewer's ``repos`` names)."""
        return self.settings.review_config or default_review_path()
