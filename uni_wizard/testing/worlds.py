"""Helpers for test worlds and the demo: git as a house in a clean environment, and systemd's stand-in."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

from ..errors import ToolExecutionError

__all__ = ["RecordingServices", "git_as"]

_CREDENTIALS = re.compile(r"://[^/@\s]+@")  # user:token@ in a remote URL


def git_as(
    *args: str, cwd: Path, name: str = "Bezalel", email: str = "bezalel@mesh.invalid", timeout: float = 60
) -> str:
    """``git ARGS`` in ``cwd`` as ``name``, with no user or system configuration and no prompt (a fixed argv,
    no shell); its stdout, stripped. A failure raises ``ToolExecutionError`` with git's stderr."""
    env = {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": str(cwd),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_AUTHOR_NAME": name,
        "GIT_AUTHOR_EMAIL": email,
        "GIT_COMMITTER_NAME": name,
        "GIT_COMMITTER_EMAIL": email,
    }
    done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        said = f"git {' '.join(args)}: {done.stderr.strip()}"
        raise ToolExecutionError(_CREDENTIALS.sub("://***@", said))
    return done.stdout.strip()


class RecordingServices:
    """systemd's stand-in for the reconciler (a ``ServiceManager``): records ``restart:<unit>`` and
    ``reload:<unit>``; ``on_restart`` runs after each waited-for restart (a test starts its daemon there)."""

    def __init__(self, on_restart: Callable[[], None] | None = None) -> None:
        self.calls: list[str] = []
        self.on_restart = on_restart

    async def restart(self, units: Sequence[str], *, wait: bool = True) -> None:
        self.calls += [f"restart:{u}" for u in units]
        if self.on_restart is not None and wait:
            self.on_restart()

    async def reload(self, units: Sequence[str]) -> None:
        self.calls += [f"reload:{u}" for u in units]
