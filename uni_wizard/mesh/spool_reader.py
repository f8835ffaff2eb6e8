"""The spool reader: every other host's heartbeat and telemetry, read incrementally, and conflict files.

    reader = SpoolReader(folder, "vps-b", peers=("sovereign", "vps-a"),
                         state=JsonState(data_dir / "mesh" / "spool-reader.json"))
    reader.read_once()            # from a worker thread, every read_seconds
    reader.heartbeats["vps-a"]    # PeerHeartbeat(seq=..., time=..., seen_at=...)
    reader.telemetry["vps-a"]     # PeerTelemetry(last_seq=..., events=..., duplicates=0, gaps=0)

Each telemetry file is read from a byte offset saved in the data directory; only complete lines are
consumed (a line Syncthing has not finished bringing over waits for the next pass). Events are counted
by their ``seq``: a line whose ``seq`` was seen already is a duplicate and is not delivered again; a
jump in ``seq`` is a gap (a line missing from the peer's file). Offsets and counts are saved together,
atomically, after each pass. ``on_event`` sees each new event once per pass (again after a crash
before the save: at least once); when it raises, the pass stops at that line, which is delivered again
on the next pass.

Conflict files (``*.sync-conflict-*``, which Syncthing creates when two devices changed one file) are
looked for in the whole folder on every pass; ``on_conflict`` is called once per path per process.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .spool_files import CONFLICT_MARKER, HostFiles, JsonState

__all__ = ["PeerHeartbeat", "PeerTelemetry", "SpoolReader", "find_conflicts"]

log = logging.getLogger(__name__)

MAX_READ = 8 * 1024 * 1024  # bytes of one file per pass
SKIP_DIRS = {".stversions", ".stfolder"}


@dataclass(frozen=True)
class PeerHeartbeat:
    """A peer's heartbeat.json: the writer's ``time`` and ``seq``, and when this host first saw that ``seq``."""

    host: str
    time: float
    seq: int
    seen_at: float
    data: dict[str, Any]


@dataclass
class PeerTelemetry:
    """What was read of a peer's telemetry: the highest ``seq``, events delivered, duplicates, gaps."""

    last_seq: int = 0
    events: int = 0
    duplicates: int = 0
    gaps: int = 0
    bad_lines: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def find_conflicts(root: Path) -> list[str]:
    """Paths (relative to ``root``, sorted) of every ``.sync-conflict-`` file or directory in the folder."""
    found: list[str] = []
    for top, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS]
        for name in (*dirs, *files):
            if CONFLICT_MARKER in name:
                found.append(os.path.relpath(os.path.join(top, name), root))
    return sorted(found)


class SpoolReader:
    """Reads ``peers``' files under ``root``; this host (``host``) is never read, nothing is ever written there."""

    def __init__(
        self,
        root: Path,
        host: str,
        peers: Sequence[str],
        state: JsonState,
        *,
        on_event: Callable[[str, dict[str, Any]], None] | None = None,
        on_conflict: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.root = root
        self.host = host
        self.peers = tuple(p for p in peers if p != host)
        self.state = state
        self.on_event = on_event
        self.on_conflict = on_conflict
        self.clock = clock
        saved = state.load()
        self.offsets: dict[str, int] = {str(k): int(v) for k, v in (saved.get("offsets") or {}).items()}
        self.telemetry: dict[str, PeerTelemetry] = {
            peer: PeerTelemetry(**(saved.get("telemetry") or {}).get(peer, {})) for peer in self.peers
        }
        self.heartbeats: dict[str, PeerHeartbeat] = {}
        self.heartbeat_errors: dict[str, str] = {}
        self.conflicts: tuple[str, ...] = ()
        self._reported: set[str] = set()

    def read_once(self) -> None:
        """One pass: heartbeats, new telemetry lines, conflict files; then save offsets and counts."""
        if not self.root.is_dir():
            return
        self.read_heartbeats()
        if self.read_telemetry():
            self.state.save({"offsets": self.offsets, "telemetry": {p: t.as_dict() for p, t in self.telemetry.items()}})
        self.scan_conflicts()

    # -- heartbeats --------------------------------------------------------------
    def read_heartbeats(self) -> None:
        for peer in self.peers:
            path = HostFiles(self.root, peer).heartbeat
            try:
                data = json.loads(path.read_bytes())
                beat_time, seq = float(data["time"]), int(data["seq"])
            except FileNotFoundError:
                self.heartbeat_errors[peer] = f"no heartbeat at {path} yet"
                continue
            except (OSError, ValueError, KeyError, TypeError) as exc:
                self.heartbeat_errors[peer] = f"{path} is not a heartbeat: {exc}"
                continue
            self.heartbeat_errors.pop(peer, None)
            previous = self.heartbeats.get(peer)
            if previous is not None and previous.seq == seq and previous.time == beat_time:
                continue
            self.heartbeats[peer] = PeerHeartbeat(peer, beat_time, seq, self.clock(), data)

    def heartbeats_only(self) -> None:
        """Read heartbeats and conflicts without touching telemetry or the saved offsets (the CLI's view)."""
        if self.root.is_dir():
            self.read_heartbeats()
            self.conflicts = tuple(find_conflicts(self.root))

    # -- telemetry ---------------------------------------------------------------
    def read_telemetry(self) -> int:
        """Consume the complete new lines of every peer's telemetry files; the number of lines consumed."""
        consumed = 0
        for peer in self.peers:
            for path in HostFiles(self.root, peer).telemetry_files():
                consumed += self._read_file(peer, path)
        return consumed

    def _read_file(self, peer: str, path: Path) -> int:
        key = f"{peer}/telemetry/{path.name}"
        offset = self.offsets.get(key, 0)
        try:
            with path.open("rb") as source:
                size = source.seek(0, os.SEEK_END)
                if size < offset:  # replaced by a shorter file: read again; seq keeps out what was seen
                    log.warning("telemetry file %s shrank below its offset; reading it again", key)
                    offset = 0
                if size == offset:
                    return 0
                source.seek(offset)
                chunk = source.read(min(size - offset, MAX_READ))
        except OSError as exc:
            log.warning("cannot read %s: %s", path, exc.strerror or exc)
            return 0
        end = chunk.rfind(b"\n")
        if end < 0:
            if len(chunk) < MAX_READ:
                return 0  # a partial line: wait for the rest
            end = len(chunk) - 1  # a line longer than anything the writer makes: skip it
            self.telemetry[peer].bad_lines += 1
        lines = chunk[:end].split(b"\n")
        start = offset
        try:
            for line in lines:
                self._take(peer, line)
                start += len(line) + 1
        except BaseException:
            self.offsets[key] = start  # the failed line is read again on the next pass
            raise
        self.offsets[key] = offset + end + 1
        return len(lines)

    def _take(self, peer: str, line: bytes) -> None:
        stats = self.telemetry[peer]
        try:
            event = json.loads(line)
            seq = event["seq"]
            if not isinstance(event, dict) or not isinstance(seq, int):
                raise TypeError("no integer seq")
        except (ValueError, KeyError, TypeError):
            stats.bad_lines += 1
            return
        if seq <= stats.last_seq:
            stats.duplicates += 1
            return
        if self.on_event is not None:
            self.on_event(peer, event)  # first: if it raises, the event is not counted as seen
        if stats.last_seq and seq > stats.last_seq + 1:
            stats.gaps += seq - stats.last_seq - 1
        stats.last_seq = seq
        stats.events += 1

    # -- conflicts ---------------------------------------------------------------
    def scan_conflicts(self) -> tuple[str, ...]:
        """Look for conflict files in the whole folder; report each new one."""
        self.conflicts = tuple(find_conflicts(self.root))
        for path in self.conflicts:
            if path not in self._reported:
                self._reported.add(path)
                log.warning("Syncthing conflict file in the shared folder: %s", path)
                if self.on_conflict is not None:
                    self.on_conflict(path)
        return self.conflicts
