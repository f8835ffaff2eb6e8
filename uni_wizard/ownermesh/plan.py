"""The daemon processes of an owner's mesh, and what each one's settings file holds.

A daemon acts as one forge user (its ``gitea_token``), and a worker as one house, so every house that has
something to do runs its own process, named after it: the dispatcher house (allegro) dispatches; the house
that may approve and merge (timmy) reviews; every house that may take issues (ezra, bezalel, and timmy, whose
worker shares the reviewer's process and forge user) works. All listen on loopback, each on its own port.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError
from ..policy.model import HousePolicy
from ..reporef import RepoRef
from .paths import MeshDir
from .probe import OLLAMA_URL

__all__ = ["POLL_SECONDS", "Choice", "Daemon", "plan_daemons", "settings_data"]

POLL_SECONDS = 2.0
"""How often the dispatcher sweeps, the workers look for routed issues and the reviewer passes (one host: a
short interval costs little)."""
DISPATCHER_HOUSE = "allegro"
REVIEWER_HOUSE = "timmy"


@dataclass(frozen=True)
class Daemon:
    """One daemon process: ``name`` is its house, its settings file's and its host's name."""

    name: str
    user: str  # the forge user it acts as (its token: secrets/<user>.token)
    roles: tuple[str, ...]
    house: str | None  # the house its worker and reviewer act as; None for the dispatcher alone
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _reviewer(houses: Mapping[str, HousePolicy]) -> str:
    able = sorted(n for n, h in houses.items() if h.rules.may_approve and h.rules.may_merge)
    if not able:
        raise ConfigError("no house may approve and merge (rules.may_approve, rules.may_merge): nobody could review")
    return REVIEWER_HOUSE if REVIEWER_HOUSE in able else able[0]


@dataclass(frozen=True)
class Choice:
    """What the mesh is: the options, checked against what a previous run recorded."""

    kind: str
    url: str
    owner: str
    work: RepoRef
    forge_port: int | None
    daemons: list[Daemon] = field(default_factory=list)
    models: list[str] | None = None  # the local Ollama's (None: nothing answered)
    ollama_url: str = OLLAMA_URL

    @property
    def hook_url(self) -> str:
        return next(d.url for d in self.daemons if "dispatcher" in d.roles) + "/hooks/gitea"


def plan_daemons(houses: Mapping[str, HousePolicy]) -> list[Daemon]:
    """The daemons for ``houses``: the dispatcher's first, then the reviewer's, then each worker's (by name)."""
    if DISPATCHER_HOUSE not in houses:
        raise ConfigError(f"no house {DISPATCHER_HOUSE!r}: the mesh needs it to dispatch")
    roles: dict[str, list[str]] = {DISPATCHER_HOUSE: ["dispatcher"]}
    roles.setdefault(_reviewer(houses), []).append("reviewer")
    for name in sorted(houses):
        if houses[name].rules.may_take_issues:
            roles.setdefault(name, []).append("worker")
    daemons = []
    for name, wanted in roles.items():
        acting = name if {"worker", "reviewer"} & set(wanted) else None
        daemons.append(Daemon(name, houses[name].gitea_user, tuple(wanted), acting))
    return daemons


def settings_data(
    final: MeshDir, daemon: Daemon, *, forge_url: str, owner: str, model: bool, ports: Sequence[int] = ()
) -> dict[str, Any]:
    """The settings of ``daemon`` in the mesh at ``final`` (absolute paths: the daemons start anywhere)."""
    data: dict[str, Any] = {
        "host": daemon.name,
        "data_dir": str(final.data(daemon.name)),
        "bind": "127.0.0.1",
        "port": daemon.port,
        "api_token_file": str(final.secret("api.token")),
        "gitea_url": forge_url,
        "gitea_token_file": str(final.secret(f"{daemon.user}.token")),
        "owner": owner,
        "roles": list(daemon.roles),
    }
    if daemon.house is not None:
        data["house"] = daemon.house
    if "dispatcher" in daemon.roles:
        data["dispatcher_house"] = daemon.name
        data["webhook_secret_file"] = str(final.secret("webhook.secret"))  # the forge's hooks deliver here
    data["triage_config"] = str(final.config("triage.yaml"))
    data["review_config"] = str(final.config("review.yaml"))
    if "worker" in daemon.roles:
        data["worker_poll_seconds"] = POLL_SECONDS
    if model:
        data["cascade_config"] = str(final.config("cascade.yaml"))
        if "worker" in daemon.roles:
            data["planner"] = "model"
    data["log_level"] = "INFO"
    return data
