"""Reading configuration files: YAML with one error rule (``ConfigError`` naming the file and, where
known, the line or key) and one empty-file rule for every loader of the package.

    config = load_model(ReviewConfig, settings.review_config, default=shipped("review.yaml"), kind="a review file")

An empty file (nothing but whitespace or comments) is the same as an empty mapping: every key takes its
default, and a model with required keys names the first one missing. A file that is not a mapping, a key
that is unknown and a value that is wrong are ``ConfigError``s naming the file and the key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from .errors import ConfigError

__all__ = [
    "PACKAGE_DIR",
    "load_model",
    "model_from_data",
    "one_line",
    "parse_yaml",
    "read_yaml",
    "shipped",
    "validation_error",
]

PACKAGE_DIR = Path(__file__).resolve().parent
M = TypeVar("M", bound=BaseModel)


def shipped(name: str) -> Path:
    """The configuration file ``name`` shipped with uni-wizard: inside the wheel (``_defaults/configs``), or
    the repository's ``configs/`` (a checkout)."""
    for candidate in (PACKAGE_DIR / "_defaults" / "configs" / name, PACKAGE_DIR.parent / "configs" / name):
        if candidate.is_file():
            return candidate
    return PACKAGE_DIR.parent / "configs" / name


def load_model(
    model: type[M], path: Path | None, *, default: Path | None = None, kind: str = "a configuration file"
) -> M:
    """``model`` validated from the YAML file ``path`` (None: ``default``, the shipped file; both None: the
    model's defaults, no file read). Empty file: the defaults. Every problem is a ``ConfigError`` naming the
    file and, where known, the key or line; ``kind`` names the file in "``kind`` must be a mapping of keys"."""
    path = path or default
    if path is None:
        return model_from_data(model, {}, source="defaults", kind=kind)
    return model_from_data(model, read_yaml(path), source=str(path), kind=kind)


def model_from_data(model: type[M], data: Any, *, source: str, kind: str = "a configuration file") -> M:
    """``model`` validated from parsed YAML ``data`` read from ``source``, by ``load_model``'s rules."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{kind} must be a mapping of keys", source=source)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, source) from None


def read_yaml(path: Path) -> Any:
    """Parse one YAML file. Whatever is wrong with it (unreadable, a directory, not UTF-8, a syntax error,
    a value YAML cannot build) is a ``ConfigError`` naming the file and, where known, the line."""
    try:
        raw = path.read_bytes()
    except IsADirectoryError:
        raise ConfigError("is a directory, not a YAML file", source=str(path)) from None
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"cannot read: {reason}", source=str(path)) from None
    return parse_yaml(raw, source=str(path))


def parse_yaml(raw: bytes | str, *, source: str) -> Any:
    """Parse YAML read from ``source`` (a file's name, for the errors), by ``read_yaml``'s rules."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as exc:
        assert isinstance(raw, bytes)
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigError(f"not UTF-8 text (byte {exc.start})", source=source, key=f"line {line}") from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"invalid YAML: {one_line(problem)}", source=source, key=where) from exc
    except RecursionError:
        raise ConfigError("invalid YAML: nested too deeply", source=source) from None
    except (ValueError, TypeError, OverflowError) as exc:  # a value YAML cannot build, e.g. 2020-13-01
        raise ConfigError(f"invalid YAML value: {one_line(str(exc))}", source=source) from None


def one_line(text: str) -> str:
    """``text`` with its lines joined by single spaces: an error message is one line."""
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def validation_error(exc: ValidationError, source: str) -> ConfigError:
    """The first problem of a pydantic error, as ``ConfigError(source, key)``. A default that could not be computed
    because another value was wrong (``default_factory_not_called``) is no problem of its own: not counted."""
    errors = [e for e in exc.errors() if e["type"] != "default_factory_not_called"] or exc.errors()
    err = errors[0]
    key = ".".join(str(p) if str(p).isprintable() else repr(p) for p in err["loc"]) or None
    message = "unknown key" if err["type"] == "extra_forbidden" else one_line(err["msg"]).removeprefix("Value error, ")
    more = len(errors) - 1
    if more:
        message += f" (and {more} more problem{'s' if more > 1 else ''})"
    return ConfigError(message, source=source, key=key)
