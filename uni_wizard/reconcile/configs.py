"""Configuration and policy files of an upgrade: validated with the real loaders, installed, restored.

The reconciler owns ``<config_dir>/houses/*.yaml`` and ``<config_dir>/configs/*.yaml``: after an apply
they mirror the mesh repository at the applied sha (a file removed there is removed here). Keep
host-only files elsewhere (the settings file lives beside these directories, not in them).

Validation writes the commit's files into a temporary directory and loads them exactly as a daemon
would: every house with ``load_houses``, ``configs/triage.yaml`` with the dispatcher's loader,
``review.yaml``, ``mesh*.yaml``, ``upgrades.yaml``, ``forge-layout*.yaml`` with theirs; any other
``configs/*.yaml`` must at least be a YAML mapping. The first invalid file fails the whole upgrade
before anything is installed.
"""

from __future__ import annotations

import fnmatch
import json
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..configfile import read_yaml
from ..dispatch.config import load_triage_config
from ..errors import ConfigError, DeployFailed, UniWizardError
from ..forge.bootstrap import load_layout
from ..meshfile.schema import load_mesh_config
from ..policy.loader import load_houses
from ..review.config import load_review_config
from ..upgrade.config import load_upgrade_config
from .source import MANAGED
from .state import write_atomic

__all__ = ["CONFIG_MODE", "ConfigChange", "ConfigInstaller", "validate_files"]

# Readable by the role daemons (another user): no secrets live here, and on a deployed host the
# directory above (/etc/uni-wizard, 0750 root:uni-wizard) keeps everyone else out.
CONFIG_MODE = 0o644


LOADERS: tuple[tuple[str, Callable[[Path], Any]], ...] = (
    ("triage.yaml", load_triage_config),
    ("review.yaml", load_review_config),
    ("mesh*.yaml", load_mesh_config),
    ("forge-layout*.yaml", load_layout),
    ("upgrades.yaml", load_upgrade_config),
)
"""The loader of each configuration file a daemon reads, by file name pattern."""


def _mapping(path: Path) -> None:
    data = read_yaml(path)
    if data is not None and not isinstance(data, dict):
        raise ConfigError("a configuration file must be a mapping of keys", source=path.name)


def validate_files(files: Mapping[str, bytes]) -> None:
    """``ConfigError`` (naming the file and key) for the first file a daemon would refuse to load."""
    with tempfile.TemporaryDirectory(prefix="uniwizard-validate-") as tmp:
        root = Path(tmp)
        for rel, data in files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(data)
        if any(rel.startswith("houses/") for rel in files):
            load_houses(root / "houses")
        for rel in sorted(r for r in files if r.startswith("configs/")):
            name = rel.split("/", 1)[1]
            loader = next((load for pattern, load in LOADERS if fnmatch.fnmatchcase(name, pattern)), _mapping)
            try:
                loader(root / rel)
            except ConfigError:
                raise
            except (UniWizardError, ValueError, TypeError) as exc:
                raise ConfigError(str(exc), source=rel) from exc


@dataclass(frozen=True)
class ConfigChange:
    """What installing a commit's files changes: paths written or removed, by directory."""

    written: tuple[str, ...]
    removed: tuple[str, ...]

    @property
    def paths(self) -> tuple[str, ...]:
        return self.written + self.removed

    @property
    def houses(self) -> bool:
        return any(p.startswith("houses/") for p in self.paths)

    @property
    def configs(self) -> bool:
        return any(p.startswith("configs/") for p in self.paths)


class ConfigInstaller:
    """Installs into ``config_dir``; the files it replaces are kept in ``backup_dir/<sha>.json`` first."""

    def __init__(self, config_dir: Path, backup_dir: Path) -> None:
        self.config_dir = config_dir
        self.backup_dir = backup_dir

    def installed(self) -> dict[str, bytes]:
        """The managed files on this host now."""
        found: dict[str, bytes] = {}
        for pattern in MANAGED:
            for path in sorted(self.config_dir.glob(pattern)):
                if path.is_file():
                    found[str(path.relative_to(self.config_dir))] = path.read_bytes()
        return found

    def plan(self, files: Mapping[str, bytes]) -> ConfigChange:
        """What ``install(files)`` would change (nothing when the host has them already)."""
        present = {rel.split("/", 1)[0] for rel in files}  # a directory the commit lacks is left alone
        here = {rel: data for rel, data in self.installed().items() if rel.split("/", 1)[0] in present}
        written = tuple(sorted(rel for rel, data in files.items() if here.get(rel) != data))
        removed = tuple(sorted(rel for rel in here if rel not in files))
        return ConfigChange(written, removed)

    def install(self, sha: str, files: Mapping[str, bytes], change: ConfigChange) -> None:
        """Back up what ``change`` touches, then write and remove (each file replaced atomically)."""
        backup = {rel: self._read(rel) for rel in change.paths}
        encoded = {
            rel: None if data is None else data.decode("utf-8", "surrogateescape") for rel, data in backup.items()
        }
        write_atomic(self._backup_path(sha), json.dumps(encoded).encode("utf-8", "surrogateescape"), 0o600)
        for rel in change.written:
            write_atomic(self.config_dir / rel, files[rel], CONFIG_MODE)
        for rel in change.removed:
            (self.config_dir / rel).unlink(missing_ok=True)

    def restore(self, sha: str) -> list[str]:
        """Put back what ``install(sha, ...)`` replaced; the paths restored (none without a backup)."""
        path = self._backup_path(sha)
        try:
            saved: dict[str, str | None] = json.loads(path.read_bytes())
        except FileNotFoundError:
            return []
        except ValueError as exc:
            raise DeployFailed(f"{path}: the configuration backup is unreadable ({exc}); restore by hand") from exc
        for rel, text in saved.items():
            if text is None:
                (self.config_dir / rel).unlink(missing_ok=True)
            else:
                write_atomic(self.config_dir / rel, text.encode("utf-8", "surrogateescape"), CONFIG_MODE)
        return sorted(saved)

    def discard_backup(self, sha: str) -> None:
        self._backup_path(sha).unlink(missing_ok=True)

    def _read(self, rel: str) -> bytes | None:
        try:
            return (self.config_dir / rel).read_bytes()
        except FileNotFoundError:
            return None

    def _backup_path(self, sha: str) -> Path:
        return self.backup_dir / f"{sha}.json"
