"""The spool writer: this host's heartbeat and telemetry in the shared Syncthing folder.

    writer = SpoolWriter(folder, "vps-a", events, JsonState(data_dir / "mesh" / "spool-writer.json"),
                         houses=("bezalel",), roles=("worker",), syncthing_problem=monitor.problem)
    writer.tick()     # from a worker thread, every heartbeat_seconds: heartbeat, then telemetry

Telemetry is the event log (``observe/events.py``) exported line by line: each line is one event's
JSON with its ``seq``, in ``<folder>/<host>/telemetry/<date>.jsonl`` (the event's UTC date). The cursor
(the last exported ``seq``) is saved in the data directory after the lines are on disk (fsync). A crash
between the two is repaired on the next start: the last complete line of each telemetry file gives the
last ``seq`` really written, and the cursor moves up to it, so no line is written twice; a partial
last line (a crash mid-write) is cut off first. Nothing is ever skipped: the cursor only moves past
lines that are on disk.

While the folder is unavailable (missing, not a directory, not writable, or Syncthing reports it
unreachable, errored, paused or unknown) nothing is written: events stay in the SQLite log, the cursor
stays put, ``buffered()`` counts them, and the first tick after recovery flushes them in order.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .._version import __version__
from ..errors import MeshError
from ..observe.events import Event, EventLog
from .spool_files import HostFiles, JsonState, atomic_write, last_line

__all__ = ["SpoolWriter"]

log = logging.getLogger(__name__)

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")
BATCH = 500


class SpoolWriter:
    """Writes ``host``'s files under ``root`` (the shared folder) and nothing else.

    Args:
        root: the shared folder on this host.
        host: this host's name (its directory in the folder).
        events: this host's event log (the telemetry source).
        state: where the telemetry cursor is saved (the data directory, never the shared folder).
        houses, roles: what the heartbeat announces.
        syncthing_problem: why Syncthing cannot take writes now (None: it can, or it is not configured).
        lease_view: the lease as this host last read it, for the heartbeat (None: unknown).
        device_id: this host's Syncthing device id, for the heartbeat (None: unknown).
        clock: UNIX time.
    """

    def __init__(
        self,
        root: Path,
        host: str,
        events: EventLog,
        state: JsonState,
        *,
        houses: Sequence[str] = (),
        roles: Sequence[str] = (),
        syncthing_problem: Callable[[], str | None] = lambda: None,
        lease_view: Callable[[], Mapping[str, Any] | None] = lambda: None,
        device_id: Callable[[], str | None] = lambda: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.root = root
        self.files = HostFiles(root, host)
        self.events = events
        self.state = state
        self.houses = tuple(houses)
        self.roles = tuple(roles)
        self.syncthing_problem = syncthing_problem
        self.lease_view = lease_view
        self.device_id = device_id
        self.clock = clock
        self.exported_seq = int(state.load().get("exported_seq", 0))
        self.heartbeat_seq = 0
        self.last_heartbeat_at: float | None = None
        self.problem: str | None = "the spool has not run yet"
        self._recovered = False

    # -- the tick ----------------------------------------------------------------
    def tick(self) -> str | None:
        """Write the heartbeat and flush telemetry when the folder is available; the problem, if any."""
        problem = self.folder_problem()
        if problem is None:
            try:
                if not self._recovered:
                    self.recover()
                self.write_heartbeat()
                self.flush_telemetry()
            except OSError as exc:
                self._recovered = False  # a write may have been cut short: look at the files again first
                problem = f"cannot write under {self.files.dir}: {exc.strerror or exc}"
            except MeshError as exc:  # this host's own telemetry file was damaged (by hand): stop, keep the log
                self._recovered = False
                problem = str(exc)
        if problem != self.problem:
            if problem:
                log.warning("spool unavailable, telemetry buffered (%d events): %s", self.buffered(), problem)
            else:
                log.info("spool available: flushed telemetry up to seq %d", self.exported_seq)
        self.problem = problem
        return problem

    def folder_problem(self, *, create: bool = True) -> str | None:
        """Why nothing can be written now; None when the folder is usable (this host's directories exist then;
        with ``create`` False nothing is created: a look from the CLI)."""
        if not self.root.exists():
            return f"the shared folder {self.root} does not exist"
        if not self.root.is_dir():
            return f"the shared folder {self.root} is not a directory"
        problem = self.syncthing_problem()
        if problem:
            return problem
        if not create:
            target = self.files.dir if self.files.dir.exists() else self.root
            return None if os.access(target, os.W_OK) else f"{target} is not writable"
        try:
            for directory in (self.files.dir, self.files.telemetry_dir, self.files.artifacts_dir):
                directory.mkdir(exist_ok=True)
        except OSError as exc:
            return f"cannot create {self.files.dir}: {exc.strerror or exc}"
        if not os.access(self.files.telemetry_dir, os.W_OK) or not os.access(self.files.dir, os.W_OK):
            return f"{self.files.dir} is not writable"
        return None

    def buffered(self) -> int:
        """Events logged but not yet exported."""
        return max(0, self.events.last_seq() - self.exported_seq)

    # -- crash repair ------------------------------------------------------------
    def recover(self) -> int:
        """Move the cursor up to the last line really written (cutting off a partial last line); the cursor."""
        written = 0
        for path in self.files.telemetry_files():
            line = last_line(path, repair=True)
            if line is not None:
                written = max(written, _seq_of(line, path))
        if written > self.exported_seq:
            log.info(
                "telemetry cursor %d moved to %d: the lines were written before a crash", self.exported_seq, written
            )
            self._save_cursor(written)
        previous = _read_json(self.files.heartbeat)
        if previous is not None and isinstance(previous.get("seq"), int):
            self.heartbeat_seq = max(self.heartbeat_seq, int(previous["seq"]))
        self._recovered = True
        return self.exported_seq

    def look(self) -> None:
        """Read-only: the problem, the last heartbeat written and the cursor, as the daemon left them (the CLI)."""
        self.problem = self.folder_problem(create=False)
        previous = _read_json(self.files.heartbeat)
        if previous is not None and isinstance(previous.get("time"), int | float):
            self.last_heartbeat_at = float(previous["time"])

    # -- writing -----------------------------------------------------------------
    def heartbeat(self) -> dict[str, Any]:
        """The next heartbeat's contents (does not write it)."""
        now = self.clock()
        return {
            "host": self.files.host,
            "houses": list(self.houses),
            "roles": list(self.roles),
            "time": now,
            "at": datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "seq": self.heartbeat_seq + 1,
            "version": __version__,
            "lease": self.lease_view(),
            "syncthing_device": self.device_id(),
            "telemetry_seq": self.exported_seq,
        }

    def write_heartbeat(self) -> dict[str, Any]:
        """Replace ``heartbeat.json`` atomically; what was written."""
        beat = self.heartbeat()
        atomic_write(self.files.heartbeat, (json.dumps(beat, sort_keys=True, indent=1) + "\n").encode())
        self.heartbeat_seq = int(beat["seq"])
        self.last_heartbeat_at = float(beat["time"])
        return beat

    def flush_telemetry(self) -> int:
        """Append every event after the cursor to its day's file, then save the cursor; lines written."""
        total = 0
        while True:
            page = self.events.tail(self.exported_seq, BATCH)
            if not page:
                return total
            by_date: dict[str, list[Event]] = {}
            for event in page:
                by_date.setdefault(self._date(event), []).append(event)
            for date, group in by_date.items():
                lines = b"".join(json.dumps(e.as_dict(), separators=(",", ":")).encode() + b"\n" for e in group)
                with self.files.telemetry(date).open("ab") as sink:
                    sink.write(lines)
                    sink.flush()
                    os.fsync(sink.fileno())
            self._save_cursor(page[-1].seq)
            total += len(page)

    def _date(self, event: Event) -> str:
        if _DATE.match(event.at):
            return event.at[:10]
        return datetime.fromtimestamp(self.clock(), UTC).strftime("%Y-%m-%d")

    def _save_cursor(self, seq: int) -> None:
        self.state.save({"exported_seq": seq, "folder": str(self.root)})
        self.exported_seq = seq


def _seq_of(line: bytes, path: Path) -> int:
    try:
        seq = json.loads(line)["seq"]
    except (ValueError, KeyError, TypeError) as exc:
        raise MeshError(f"the last line of {path} is not a telemetry event ({exc}); nothing more is written") from exc
    if not isinstance(seq, int):
        raise MeshError(f"the last line of {path} has no integer seq; nothing more is written")
    return seq


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
