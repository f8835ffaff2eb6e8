"""The text of each configuration file ``init`` writes: the settings of a daemon, the mesh file, Allegro's
triage file and Timmy's review file (the shipped ones, with this mesh's repositories and owner), the cascade
(when a local model answered). Each is loaded back with its own loader before the mesh is complete, so a
file ``init`` writes is one the daemons accept."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

from ..cascade.config import load_cascade_config
from ..configfile import read_yaml, shipped
from ..dispatch.config import load_triage_config
from ..errors import ConfigError
from ..meshfile.schema import load_mesh_config
from ..review.config import load_review_config
from .plan import POLL_SECONDS, Daemon

__all__ = [
    "MODEL_CONTEXT",
    "cascade_text",
    "check_config",
    "mesh_text",
    "review_text",
    "settings_text",
    "triage_text",
]

MODEL_CONTEXT = 8192
"""The context window written for a model found on the local Ollama (its tags do not say)."""

_KEPT = "uni-wizard init writes this file once and never rewrites it: edit it freely."


def _dump(header: str, data: Any) -> str:
    comments = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    return comments + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=110)


def settings_text(daemon: Daemon, data: dict[str, Any], root: Path) -> str:
    roles = ", ".join(daemon.roles)
    header = (
        f"The settings of the daemon {daemon.name} ({roles}) of the owner's mesh in {root}.\n"
        f"`uni-wizard up {root}` runs one daemon per file of this directory. {_KEPT}\n"
        "Every key: docs/OPERATIONS.md#settings."
    )
    return _dump(header, data)


def mesh_text(daemons: Sequence[Daemon], root: Path) -> str:
    """The mesh file: one host per daemon process. The daemons do not read it while the mesh has one host
    (the dispatcher's lease stays local); add `mesh_config: <this file>` to every settings file when a second
    machine joins (the lease then lives on the forge)."""
    hosts = [
        {"name": d.name, "url": d.url, "houses": [d.house] if d.house else [], "roles": list(d.roles)} for d in daemons
    ]
    header = (
        f"The owner's mesh in {root}: one host per daemon process, all on this machine.\n"
        "The daemons do not read this file while the mesh runs on one machine (the dispatcher's lease is local).\n"
        "When another machine joins, list it here and set `mesh_config` to this file in every settings file:\n"
        f"the lease then lives on the forge (docs/OPERATIONS.md). {_KEPT}"
    )
    return _dump(header, {"hosts": hosts})


def triage_text(repos: Sequence[str]) -> str:
    """The shipped triage file, watching ``repos`` and passing every ``POLL_SECONDS``."""
    data = read_yaml(shipped("triage.yaml"))
    if not isinstance(data, dict):
        raise ConfigError("the shipped triage file is not a mapping", source=str(shipped("triage.yaml")))
    dispatcher = dict(data.get("dispatcher") or {})
    dispatcher.update({"repos": list(repos), "poll_seconds": POLL_SECONDS})
    data["dispatcher"] = dispatcher
    header = (
        "Allegro's triage vocabulary, labels and sweep: the shipped configs/triage.yaml (its comments explain\n"
        f"each key), watching this mesh's repositories. {_KEPT}"
    )
    return _dump(header, data)


def review_text(owner: str) -> str:
    """The shipped review file, naming ``owner`` as the owner whose approval counts."""
    data = read_yaml(shipped("review.yaml"))
    if not isinstance(data, dict):
        raise ConfigError("the shipped review file is not a mapping", source=str(shipped("review.yaml")))
    data["owner_login"] = owner
    header = (
        "Timmy's reviewer and merge gate: the shipped configs/review.yaml (its comments explain each key), with\n"
        f"this mesh's owner. {_KEPT}"
    )
    return _dump(header, data)


def cascade_text(url: str, models: Sequence[str]) -> str:
    """The cascade on the local Ollama at ``url`` with ``models`` (the first is the default)."""
    data = {
        "required": False,
        "providers": [
            {
                "name": "ollama",
                "kind": "ollama",
                "url": url,
                "models": [{"name": m, "context": MODEL_CONTEXT} for m in models],
            }
        ],
    }
    header = (
        f"The model cascade: the Ollama found on {url} when the mesh was made (the first model is the default).\n"
        f"Every key: configs/cascade.yaml as shipped, docs/OPERATIONS.md. {_KEPT}"
    )
    return _dump(header, data)


def check_config(name: str, path: Path) -> None:
    """Load the configuration file ``name`` at ``path`` with its own loader (a ``ConfigError`` names it)."""
    loaders: dict[str, Callable[[Path], object]] = {
        "triage.yaml": load_triage_config,
        "review.yaml": load_review_config,
        "cascade.yaml": load_cascade_config,
        "mesh.yaml": load_mesh_config,
    }
    loaders[name](path)
