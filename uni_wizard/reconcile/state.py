"""The reconciler's own state: one JSON file under the releases root, written atomically.

    {"version": 1,
     "current":  {"sha": "...", "pin": "0.2.0", "target": "releases/<sha>"},   # last applied
     "previous": {...},                                                        # the one before
     "applied":  ["<sha>", ...],          # newest last, at most MAX_HISTORY
     "failed":   {"<sha>": "reason", ...},
     "unreported": [["<sha>", "success", "why"], ...],   # statuses the forge did not take yet
     "applying": {"sha": ..., "number": 7, "phase": "prepared" | "changed", "previous_target": ...,
                  "package": true, "configs": true, "houses": false} | null}

``applying`` is written before anything on disk changes and cleared when the apply ends, so a
restart finds an apply that was cut short (``Reconciler.resume``). Writes go to a temporary file,
are fsynced, renamed over the old file, and the directory is fsynced.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UpgradeError

__all__ = ["MAX_HISTORY", "Applying", "DeployState", "Release", "StateFile", "write_atomic"]

MAX_HISTORY = 500
VERSION = 1


@dataclass(frozen=True)
class Release:
    """What ``current`` is: the applied ``sha``, its package ``pin`` and the symlink ``target`` (or None)."""

    sha: str
    pin: str | None = None
    target: str | None = None


@dataclass(frozen=True)
class Applying:
    """An apply in flight. ``phase``: ``prepared`` (nothing on the host changed yet) or ``changed``
    (configs installed and/or ``current`` switched; ``previous_target`` is what ``current`` was)."""

    sha: str
    number: int
    phase: str
    previous_target: str | None = None
    package: bool = False
    configs: bool = False
    houses: bool = False


@dataclass
class DeployState:
    current: Release | None = None
    previous: Release | None = None
    applied: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    applying: Applying | None = None
    unreported: list[list[str]] = field(default_factory=list)  # [sha, state, description] not yet posted

    def done(self, sha: str) -> bool:
        """Applied or failed here: never tried again (a failed sha needs a new approval, on a new sha)."""
        return sha in self.failed or sha in self.applied

    def record_applied(self, release: Release) -> None:
        if self.current is not None and self.current.sha != release.sha:
            self.previous = self.current
        self.current = release
        kept = [s for s in self.applied if s != release.sha][-(MAX_HISTORY - 1) :]
        self.applied = [*kept, release.sha]
        self.applying = None

    def record_failed(self, sha: str, reason: str) -> None:
        kept = list(self.failed.items())[-(MAX_HISTORY - 1) :]
        self.failed = dict(kept) | {sha: reason}
        self.applying = None

    def as_json(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "current": asdict(self.current) if self.current else None,
            "previous": asdict(self.previous) if self.previous else None,
            "applied": list(self.applied),
            "failed": dict(self.failed),
            "applying": asdict(self.applying) if self.applying else None,
            "unreported": [list(row) for row in self.unreported],
        }

    @classmethod
    def from_json(cls, data: Any, source: str) -> DeployState:
        if not isinstance(data, dict) or data.get("version") != VERSION:
            raise UpgradeError(f"{source}: not a version {VERSION} reconciler state file")
        try:
            return cls(
                current=Release(**data["current"]) if data.get("current") else None,
                previous=Release(**data["previous"]) if data.get("previous") else None,
                applied=[str(s) for s in data.get("applied", [])],
                failed={str(k): str(v) for k, v in dict(data.get("failed", {})).items()},
                applying=Applying(**data["applying"]) if data.get("applying") else None,
                unreported=[[str(x) for x in row][:3] for row in data.get("unreported", [])],
            )
        except (TypeError, ValueError) as exc:
            raise UpgradeError(f"{source}: the reconciler state is malformed: {exc}") from None


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data``: a temporary file in the same directory, fsync, rename, fsync the dir."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)  # exactly ``mode``, whatever the umask (the units run with UMask=0077)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class StateFile:
    """``<release_root>/reconcile-state.json``. A missing file is a fresh host; a corrupt one is an error
    (the operator decides: nothing is overwritten)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> DeployState:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return DeployState()
        except OSError as exc:
            raise UpgradeError(f"{self.path}: cannot read the reconciler state: {exc.strerror}") from exc
        try:
            data = json.loads(raw)
        except ValueError:
            raise UpgradeError(f"{self.path}: the reconciler state is not JSON; fix or remove it by hand") from None
        return DeployState.from_json(data, str(self.path))

    def save(self, state: DeployState) -> None:
        text = json.dumps(state.as_json(), indent=1, sort_keys=True) + "\n"
        write_atomic(self.path, text.encode(), 0o600)
