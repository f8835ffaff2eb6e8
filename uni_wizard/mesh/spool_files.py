"""The spool's files: where each lives in the shared folder, atomic writes, and small persisted JSON state.

    <folder>/<host>/heartbeat.json              this host's heartbeat, replaced atomically
    <folder>/<host>/telemetry/<date>.jsonl      this host's event log, one event per line, appended
    <folder>/<host>/artifacts/...               files this host publishes

Only ``<host>`` writes under ``<folder>/<host>/`` (the single-writer rule, DESIGN §6). Temporary files
are named ``.syncthing.<name>.tmp``: Syncthing treats that name as its own temporary file and never
scans or sends it, so a peer sees a file only once it is renamed into place, whole.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import MeshError

__all__ = ["CONFLICT_MARKER", "HostFiles", "JsonState", "atomic_write", "last_line"]

CONFLICT_MARKER = ".sync-conflict-"
_CHUNK = 4096
TELEMETRY_NAME = re.compile(r"^\d{4}-\d{2}-\d{2}\.jsonl$")


@dataclass(frozen=True)
class HostFiles:
    """The paths of one host's part of the shared folder."""

    root: Path  # the shared folder
    host: str

    @property
    def dir(self) -> Path:
        return self.root / self.host

    @property
    def heartbeat(self) -> Path:
        return self.dir / "heartbeat.json"

    @property
    def telemetry_dir(self) -> Path:
        return self.dir / "telemetry"

    @property
    def artifacts_dir(self) -> Path:
        return self.dir / "artifacts"

    def telemetry(self, date: str) -> Path:
        return self.telemetry_dir / f"{date}.jsonl"

    def telemetry_files(self) -> list[Path]:
        """The ``<date>.jsonl`` files, oldest date first (nothing else in the directory counts)."""
        try:
            names = sorted(p.name for p in self.telemetry_dir.iterdir() if TELEMETRY_NAME.match(p.name))
        except FileNotFoundError:
            return []
        return [self.telemetry_dir / name for name in names]


def atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``: written to ``.syncthing.<name>.tmp`` beside it, flushed, renamed."""
    tmp = path.with_name(f".syncthing.{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("wb") as sink:
            sink.write(data)
            sink.flush()
            os.fsync(sink.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def last_line(path: Path, *, repair: bool = False) -> bytes | None:
    """The last complete line of ``path`` (without its newline), None when it has none.

    A partial last line (a write cut short by a crash) is ignored; with ``repair`` it is cut off, so
    the next append starts on a fresh line (only for this host's own files).
    """
    with path.open("r+b" if repair else "rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        data, pos, end = b"", size, -1
        while pos > 0:  # read backwards until the last newline and the one before it (or the start)
            step = min(_CHUNK, pos)
            pos -= step
            handle.seek(pos)
            data = handle.read(step) + data
            end = data.rfind(b"\n")
            if end >= 0 and (pos == 0 or data.rfind(b"\n", 0, end) >= 0):
                break
        if end < 0:  # no newline at all: the whole file is one partial line
            if repair and size:
                handle.truncate(0)
            return None
        if repair and pos + end + 1 < size:
            handle.truncate(pos + end + 1)
        start = data.rfind(b"\n", 0, end) + 1
        return data[start:end] or None


class JsonState:
    """A JSON object in a file of the data directory, replaced atomically on every save."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, Any]:
        """The saved object; ``{}`` when there is none yet. A damaged file is a ``MeshError`` (nothing is lost:
        the file stays for the operator to look at)."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise MeshError(f"cannot read the mesh state file {self.path}: {exc.strerror}") from exc
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise MeshError(
                f"the mesh state file {self.path} is not JSON ({exc}); move it aside to start over"
            ) from exc
        if not isinstance(data, dict):
            raise MeshError(f"the mesh state file {self.path} is not a JSON object; move it aside to start over")
        return data

    def save(self, data: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(self.path, (json.dumps(data, sort_keys=True, indent=1) + "\n").encode())
