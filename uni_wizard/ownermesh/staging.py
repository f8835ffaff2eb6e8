"""Writing the mesh's files so that nothing is half-written: each file under a temporary name in its own
directory, then renamed; a new mesh in a staging directory beside DIR, renamed to DIR once complete.

``init`` never rewrites a file that is there: a file with other content than it would write is reported
(``exists, differs``) and kept, since the owner may have edited it. Secrets are 0600 files in a 0700
directory.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path

from ..errors import ConfigError

__all__ = ["Outcome", "Staging", "Writer", "write_atomic"]

Outcome = Callable[[str, str], None]
"""``(what, outcome)``: how a step reports what it did."""


def write_atomic(path: Path, text: str, *, mode: int = 0o644) -> None:
    """``text`` to ``path`` through a temporary name in the same directory and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(temporary, mode)  # not narrowed by the umask
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise


class Writer:
    """Writes files under ``root`` (the mesh's, or its staging directory), and reports each through ``report``
    by its path in the mesh."""

    def __init__(self, root: Path, report: Outcome) -> None:
        self.root, self.report = root, report

    def _name(self, path: Path) -> str:
        return str(path.relative_to(self.root))

    def file(self, path: Path, text: str) -> None:
        """``path`` with ``text``, unless it is there (then kept, and said whether it differs)."""
        what = self._name(path)
        if path.exists():
            try:
                same = path.read_text(encoding="utf-8") == text
            except (OSError, UnicodeDecodeError):
                same = False
            self.report(what, "unchanged" if same else "exists, differs from what init writes (kept)")
            return
        write_atomic(path, text)
        self.report(what, "created")

    def secret(self, path: Path, value: str | None = None) -> str:
        """The secret in ``path``: read when it is there, else ``value`` (or a new random one) written 0600."""
        self.secrets_dir(path.parent)
        what = self._name(path)
        if path.exists():
            try:
                existing = path.read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(f"cannot read it: {exc}", source=what) from None
            if not existing:
                raise ConfigError("the secret file is empty: delete it to let init make a new one", source=what)
            self.report(what, "exists")
            return existing
        value = value or secrets.token_urlsafe(24)
        write_atomic(path, value + "\n", mode=0o600)
        self.report(what, "created")
        return value

    @staticmethod
    def secrets_dir(path: Path) -> None:
        """``path`` as a directory only its user can enter (0700)."""
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(path, 0o700)


class Staging:
    """Where ``init`` works: DIR itself when it holds a mesh already, else ``.<DIR>.init`` beside it, which
    ``commit`` renames to DIR (an empty DIR is replaced) and ``abandon`` deletes. A staging directory left by
    an init that could not finish is taken up again by the next one."""

    def __init__(self, final: Path, *, existing: bool) -> None:
        self.final = final
        self.existing = existing
        self.root = final if existing else final.parent / f".{final.name}.init"

    def open(self) -> Path:
        if not self.existing:
            self.final.parent.mkdir(parents=True, exist_ok=True)
            self.root.mkdir(exist_ok=True)
        return self.root

    def commit(self) -> None:
        if self.existing:
            return
        try:
            os.replace(self.root, self.final)
        except OSError as exc:
            raise ConfigError(f"cannot move the new mesh into place: {exc.strerror}", source=str(self.final)) from None

    def abandon(self) -> None:
        if not self.existing:
            shutil.rmtree(self.root, ignore_errors=True)
