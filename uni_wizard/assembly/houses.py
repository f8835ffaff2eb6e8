"""The house files, checked before anything else is built (the daemon's preflight, every CLI command's
runtime). Light on purpose: the CLI imports it at start."""

from __future__ import annotations

from ..config import Settings
from ..errors import ConfigError
from ..harness.runtime import Runtime

__all__ = ["check_houses"]


def check_houses(settings: Settings, runtime: Runtime) -> None:
    """Load every house file now: an invalid one is a ``ConfigError`` naming the file and the key, and a
    missing or empty houses directory one naming ``houses_dir`` and where it was set."""
    try:
        runtime.houses  # noqa: B018 - loads and validates every house file
    except ConfigError as exc:
        if exc.source != str(settings.houses_dir) or exc.key is not None:
            raise
        problem = str(exc).removeprefix(f"{exc.source}: ")
        raise ConfigError(
            f"{settings.houses_dir}: {problem}", source=settings.origin("houses_dir"), key="houses_dir"
        ) from None
