"""Load house policies from YAML; errors name the file and the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ..errors import ConfigError
from .model import HousePolicy

__all__ = ["load_houses", "load_policy", "read_yaml"]


def read_yaml(path: Path) -> Any:
    """Parse one YAML file; a syntax error becomes ``ConfigError`` with the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", source=str(path)) from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"invalid YAML: {problem}", source=str(path), key=where) from exc


def validation_error(exc: ValidationError, source: str) -> ConfigError:
    """The first problem of a pydantic error, as ``ConfigError(source, key)``."""
    err = exc.errors()[0]
    key = ".".join(str(p) for p in err["loc"]) or None
    message = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
    more = len(exc.errors()) - 1
    if more:
        message += f" (and {more} more problem{'s' if more > 1 else ''})"
    return ConfigError(message, source=source, key=key)


def load_policy(path: Path) -> HousePolicy:
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError("a house file must be a mapping of keys", source=str(path))
    try:
        policy = HousePolicy.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, str(path)) from None
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
