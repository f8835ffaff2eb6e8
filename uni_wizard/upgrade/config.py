"""``configs/upgrades.yaml``: which pull requests are upgrades, how long they wait, and what is low risk.

Unknown keys and bad values are ``ConfigError``s that name the file and the key.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..configfile import load_model, shipped
from ..reporef import RepoName

__all__ = ["RiskRules", "UpgradeConfig", "default_upgrades_path", "load_upgrade_config"]


def _relative_globs(value: tuple[str, ...]) -> tuple[str, ...]:
    for pattern in value:
        if not pattern or pattern.startswith("/"):
            raise ValueError(f"{pattern!r}: globs are relative to the repository root, not empty or absolute")
    return value


class RiskRules(BaseModel):
    """A change is low risk only if every path it touches matches ``low_risk_paths``, none matches
    ``never_low_paths`` or ``package_pin_paths``, and it changes at most ``low_risk_max_lines`` lines."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    low_risk_paths: tuple[str, ...] = Field(
        ("**/*.md", "docs/**", "configs/triage.yaml", "configs/grafana/**", "configs/alerts/**"),
        description="Globs of paths whose change alone may be low risk.",
    )
    never_low_paths: tuple[str, ...] = Field(
        (
            "houses/**",
            "configs/review.yaml",
            "configs/upgrades.yaml",
            "configs/mesh.yaml",
            "configs/forge-layout*.yaml",
            "systemd/**",
            "deploy/**",
            ".ci/**",
        ),
        description="Globs of paths that make any change high risk (policies, the gates' own configuration).",
    )
    package_pin_paths: tuple[str, ...] = Field(
        ("uni-wizard.version", "requirements*.txt", "pyproject.toml"),
        description="Globs of the files that pin the package version: changing them is never low risk.",
    )
    low_risk_max_lines: int = Field(200, ge=0, description="Lines changed above which nothing is low risk.")

    @field_validator("low_risk_paths", "never_low_paths", "package_pin_paths")
    @classmethod
    def _globs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _relative_globs(value)


class UpgradeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    repo: RepoName = Field("mesh/mesh", description="The mesh's own repository.")
    label: str = Field("upgrade", min_length=1, description="The plain label that makes a pull request an upgrade.")
    upgrade_timeout_hours: float = Field(
        24.0, gt=0, description="A proposal not approved within this many hours is closed and expired."
    )
    auto_approve_upgrades: bool = Field(
        False, description="The reviewer approves an upgrade itself, but only when the risk rules call it low."
    )
    max_diff_lines: int = Field(10_000, ge=1, description="Lines changed above which an upgrade is rejected.")
    prune_after_days: float = Field(
        90.0, gt=0, description="Finished upgrades (and their history) are deleted this long after they finished."
    )
    deploy_context_prefix: str = Field(
        "uni-wizard/deploy/", min_length=1, description="Each reconciler posts `<prefix><host>` on the merged sha."
    )
    risk: RiskRules = RiskRules()


def default_upgrades_path() -> Path:
    return shipped("upgrades.yaml")


def load_upgrade_config(path: Path | None = None) -> UpgradeConfig:
    """The upgrade queue's configuration from ``path`` (default: the shipped ``configs/upgrades.yaml``)."""
    return load_model(UpgradeConfig, path, default=default_upgrades_path(), kind="an upgrades file")
