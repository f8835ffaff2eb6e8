"""Load house policies from YAML; errors name the file and the key."""

from __future__ import annotations

from pathlib import Path

from ..configfile import load_model
from ..errors import ConfigError
from .model import HousePolicy

__all__ = ["load_houses", "load_policy"]


def load_policy(path: Path) -> HousePolicy:
    policy = load_model(HousePolicy, path, kind="a house file")
    if policy.name != path.stem:
        raise ConfigError(f"name {policy.name!r} does not match the file name", source=str(path), key="name")
    return policy


def load_houses(directory: Path) -> dict[str, HousePolicy]:
    """Every ``*.yaml`` in ``directory``, by house name."""
    if not directory.is_dir():
        raise ConfigError("houses directory not found", source=str(directory))
    houses = {p.stem: load_policy(p) for p in sorted(directory.glob("*.yaml"))}
    if not houses:
        raise ConfigError("no house files (*.yaml) found", source=str(directory))
    return houses
