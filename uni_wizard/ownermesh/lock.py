"""``DIR/up.lock``: held (``flock``) by the ``up`` that runs the mesh, its pid written inside. The kernel lets
go of it when that process ends, however it ends: a lock file left behind holds nothing."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import IO

from ..errors import ConfigError

__all__ = ["UpLock", "running_pid"]


def _pid(path: Path) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        return int(path.read_text(encoding="utf-8").strip() or "0") or None
    return None


def running_pid(path: Path) -> int | None:
    """The pid of the ``up`` holding ``path``; None when nobody holds it."""
    if not path.exists():
        return None
    with open(path, "a+", encoding="utf-8") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return _pid(path) or -1
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
    return None


class UpLock:
    """The lock of one mesh directory, for as long as this ``up`` runs it."""

    def __init__(self, path: Path, root: Path) -> None:
        self.path, self.root = path, root
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        """Hold the lock, or ``ConfigError`` saying which ``up`` holds it."""
        fh = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held until release()
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            pid = _pid(self.path)
            who = f"pid {pid}" if pid else "another process"
            raise ConfigError(
                f"the mesh already runs (uni-wizard up, {who}): stop it first (Ctrl-C there, or kill -TERM {pid})"
                if pid
                else f"the mesh already runs (uni-wizard up, {who}): stop it first",
                source=str(self.root),
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        self._file = fh

    def release(self) -> None:
        if self._file is None:
            return
        with contextlib.suppress(OSError):
            self._file.seek(0)
            self._file.truncate()
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
        self._file.close()
        self._file = None
