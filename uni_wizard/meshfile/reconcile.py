"""The ``reconcile`` section of ``configs/mesh.yaml``: how often hosts poll, how they are ordered, what an
apply restarts and how it is health-checked, where packages come from.

    reconcile:
      poll_seconds: 30
      order: [[vps-b], [vps-a], [sovereign]]   # vps-a applies a sha once vps-b reported success on it
      wheelhouse: /opt/uni-wizard/wheelhouse   # pip --no-index --find-links; absent: the package index
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..reporef import RepoName

__all__ = ["ReconcileSettings"]


class ReconcileSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    repo: RepoName | None = Field(None, description="owner/name of the mesh repository (default: lease.repo).")
    label: str = Field("upgrade", min_length=1, description="The plain label of an upgrade pull request.")
    state_prefix: str = Field("upgrade/", min_length=1, description="Prefix of the upgrade's scoped state label.")
    appliable_states: tuple[str, ...] = Field(
        ("approved", "applying"), min_length=1, description="State labels under which a merged upgrade is applied."
    )
    context_prefix: str = Field(
        "uni-wizard/deploy/", min_length=1, description="Each host posts the commit status `<prefix><host>`."
    )
    poll_seconds: float = Field(30.0, gt=0, description="How often the default branch is polled.")
    jitter: float = Field(0.2, ge=0, lt=1, description="Each wait is poll_seconds times 1 ± up to this fraction.")
    scan_limit: int = Field(50, ge=1, le=500, description="Newest closed upgrade pull requests looked at per poll.")
    order: tuple[tuple[str, ...], ...] = Field(
        (),
        description="Waves of hosts: a host applies a sha only once every host of the earlier waves "
        "posted success on it. Hosts in no wave wait for nobody.",
    )
    health_urls: tuple[str, ...] = Field(
        (),
        description="URLs that must answer 200 after an apply (default: this host's mesh url + /ready, "
        "else http://127.0.0.1:<port>/ready).",
    )
    health_deadline_seconds: float = Field(60.0, gt=0, description="How long the health gate waits for 200.")
    health_interval_seconds: float = Field(1.0, gt=0, description="Pause between two health probes.")
    units: tuple[str, ...] = Field(
        (),
        description="systemd units restarted or reloaded by an apply (default: uni-wizard@<role>.service for "
        "each of this host's roles but the reconciler).",
    )
    self_unit: str = Field(
        "uni-wizard@reconciler.service",
        description="The reconciler's own unit, restarted last (without waiting) after a package upgrade "
        "succeeded; empty: never.",
    )
    pin_path: str = Field(
        "uni-wizard.version", min_length=1, description="File of the mesh repository holding the package version."
    )
    package: str = Field("uni-wizard", min_length=1, description="The distribution the pin is a version of.")
    wheelhouse: Path | None = Field(None, description="Directory of wheels (pip --no-index); absent: the index.")
    python: str | None = Field(None, description="Interpreter that creates release venvs (default: this one).")
    pip_args: tuple[str, ...] = Field((), description="Extra arguments to `pip install` (e.g. --no-deps).")
    install_timeout_seconds: float = Field(600.0, gt=0, description="How long one release install may take.")
    keep_releases: int = Field(3, ge=2, description="Release directories kept (current and previous included).")

    @field_validator("order")
    @classmethod
    def _waves(cls, value: tuple[tuple[str, ...], ...]) -> tuple[tuple[str, ...], ...]:
        seen: set[str] = set()
        for wave in value:
            if not wave:
                raise ValueError("an empty wave: each wave lists at least one host")
            for host in wave:
                if host in seen:
                    raise ValueError(f"host {host!r} is in two waves")
                seen.add(host)
        return value

    @model_validator(mode="after")
    def _pip_args_are_options(self) -> ReconcileSettings:
        for arg in self.pip_args:
            if not arg.startswith("-"):
                raise ValueError(f"pip_args: {arg!r} is not an option; the requirement comes from the pin file")
        return self

    def check_hosts(self, names: set[str]) -> None:
        """``ValueError`` when a wave names a host that is not in ``names`` (the mesh's hosts)."""
        unknown = sorted({h for wave in self.order for h in wave} - names)
        if names and unknown:
            raise ValueError(f"reconcile.order names {unknown[0]!r}, which is not a host of the mesh")

    def predecessors(self, host: str) -> tuple[str, ...]:
        """The hosts that must report success on a sha before ``host`` applies it."""
        before: list[str] = []
        for wave in self.order:
            if host in wave:
                return tuple(before)
            before.extend(wave)
        return ()

    def appliable_labels(self) -> frozenset[str]:
        return frozenset(f"{self.state_prefix}{state}" for state in self.appliable_states)
