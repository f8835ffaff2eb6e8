"""Release directories and the ``current`` symlink under the releases root.

    <root>/releases/<sha>/        a venv with the pinned package (bin/uni-wizard), marked complete by
                                  RELEASE_MARK once pip succeeded
    <root>/current -> releases/<sha>   what the units run; switched with a temporary symlink + rename

A release is built in place (a venv's scripts name its own path, so it cannot be renamed after);
a directory without the mark is what a crash left and is rebuilt. The venv is created without pip
and pip runs from this interpreter with ``--python`` (fast, and the release needs no pip of its own).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from ..errors import DeployFailed, ToolExecutionError
from ..meshfile.reconcile import ReconcileSettings
from ..tools import process
from .state import write_atomic

__all__ = ["RELEASE_MARK", "Releases", "parse_pin", "share"]

log = logging.getLogger(__name__)

RELEASE_MARK = ".uni-wizard-release.json"
_VERSION = re.compile(r"^[0-9][0-9A-Za-z.+!_-]{0,63}$")
Runner = Callable[..., Awaitable[process.Completed]]


def parse_pin(text: str, source: str) -> str:
    """The version in a pin file: one line like ``0.2.0`` (blank lines and ``#`` comments allowed)."""
    lines = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    values = [line for line in lines if line]
    if len(values) != 1 or not _VERSION.match(values[0]):
        raise DeployFailed(f"{source}: expected one version like 0.2.0, found {values[:3]!r}")
    return values[0]


def share(tree: Path) -> None:
    """Make ``tree`` readable (and its directories and executables usable) by everyone, as the deploy's releases
    are: the reconciler runs as root with ``UMask=0077``, the role daemons it restarts run as another user."""
    for path in (tree, *tree.rglob("*")):
        if path.is_symlink():
            continue
        mode = path.stat().st_mode
        extra = 0o055 if path.is_dir() or mode & 0o100 else 0o044
        if mode & extra != extra:
            path.chmod((mode | extra) & 0o7777)


class Releases:
    """The releases of ``root``; ``run`` is ``tools.process.run`` (every command an argv with a timeout)."""

    def __init__(self, root: Path, settings: ReconcileSettings, *, run: Runner = process.run) -> None:
        self.root = root
        self.settings = settings
        self._run = run

    @property
    def current_link(self) -> Path:
        return self.root / "current"

    def path(self, sha: str) -> Path:
        return self.root / "releases" / sha

    def current_target(self) -> str | None:
        """Where ``current`` points (as written, usually ``releases/<sha>``), or None."""
        try:
            return os.readlink(self.current_link)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise DeployFailed(f"{self.current_link} is not a symlink: {exc.strerror}") from exc

    def is_complete(self, sha: str) -> bool:
        return (self.path(sha) / RELEASE_MARK).is_file()

    async def install(self, sha: str, version: str) -> Path:
        """``releases/<sha>/``: a venv with ``<package>==<version>``; reused when complete already."""
        target = self.path(sha)
        if self.is_complete(sha):
            return target
        if target.exists():
            shutil.rmtree(target)  # an install a crash cut short
        target.parent.mkdir(parents=True, exist_ok=True)
        python = self.settings.python or sys.executable
        timeout = self.settings.install_timeout_seconds
        await self._step([python, "-m", "venv", "--without-pip", str(target)], timeout, "create the venv")
        source = ["--no-index", *self.find_links()] if self.settings.wheelhouse else []
        pip = [python, "-m", "pip", "--python", str(target / "bin" / "python"), "install", "--quiet"]
        pip += ["--disable-pip-version-check", *source, *self.settings.pip_args, f"{self.settings.package}=={version}"]
        try:
            await self._step(pip, timeout, f"install {self.settings.package}=={version}")
        except DeployFailed:
            shutil.rmtree(target, ignore_errors=True)
            raise
        share(target)  # before the mark: a release marked complete is always usable by the role daemons
        mark = {"sha": sha, "package": self.settings.package, "version": version}
        write_atomic(target / RELEASE_MARK, json.dumps(mark).encode())
        return target

    def find_links(self) -> list[str]:
        """``--find-links`` for the wheelhouse and each directory in it: the deploy ships one directory of wheels
        per release (``wheelhouse/<release>/``), an operator may add more beside them."""
        wheelhouse = self.settings.wheelhouse
        if wheelhouse is None:
            return []
        dirs = [wheelhouse, *sorted(p for p in wheelhouse.glob("*") if p.is_dir())]
        return [arg for d in dirs for arg in ("--find-links", str(d))]

    async def _step(self, argv: Sequence[str], timeout: float, what: str) -> None:
        try:
            done = await self._run(argv, timeout=timeout, env={"PIP_NO_INPUT": "1"})
        except ToolExecutionError as exc:
            raise DeployFailed(f"cannot {what}: {exc}") from exc
        if not done.ok:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise DeployFailed(f"cannot {what} (exit {done.returncode}): {' | '.join(tail)}")

    def switch(self, target: str) -> None:
        """Point ``current`` at ``target`` atomically: a new symlink under a temporary name renamed over it."""
        if not (self.root / target).is_dir():
            raise DeployFailed(f"cannot switch to {target}: no such release directory under {self.root}")
        tmp = self.root / f".current.{os.getpid()}.tmp"
        tmp.unlink(missing_ok=True)
        os.symlink(target, tmp)
        os.replace(tmp, self.current_link)
        dir_fd = os.open(self.root, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def unlink_current(self) -> None:
        """Remove ``current`` (a rollback to a host that had no release before)."""
        self.current_link.unlink(missing_ok=True)

    def prune(self, keep: set[str]) -> list[str]:
        """Remove release directories beyond ``keep_releases`` (never one in ``keep``); the removed shas."""
        base = self.root / "releases"
        if not base.is_dir():
            return []
        dirs = sorted((p for p in base.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)
        removed = []
        for old in dirs[self.settings.keep_releases :]:
            if old.name not in keep:
                shutil.rmtree(old, ignore_errors=True)
                removed.append(old.name)
        return removed
