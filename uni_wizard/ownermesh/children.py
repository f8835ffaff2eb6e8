"""The child processes of ``up``: the devforge and the daemons, each ``python -m uni_wizard.ownermesh.child``.

Each runs in a session of its own (Ctrl-C on the terminal reaches ``up`` alone, which then stops them in
order), writes its output to its log file, and is asked by the kernel to stop (SIGTERM) should ``up`` die
without stopping it (``PR_SET_PDEATHSIG``). The environment is ``up``'s without the ``UNIWIZARD_*`` settings:
a daemon's settings are its file's.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
from pathlib import Path

__all__ = ["Child", "child_env"]

PR_SET_PDEATHSIG = 1
STOP_SECONDS = 10.0


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def child_env() -> dict[str, str]:
    """``up``'s environment for a child: without ``UNIWIZARD_*``, with unbuffered Python output."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("UNIWIZARD_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Child:
    """One child process: ``name``, its arguments after ``python -m uni_wizard.ownermesh.child``, its log."""

    def __init__(self, name: str, args: list[str], log: Path) -> None:
        self.name, self.args, self.log = name, args, log
        self.proc: asyncio.subprocess.Process | None = None
        self.stopping = False

    async def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "uni_wizard.ownermesh.child",
                *self.args,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=child_env(),
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def exited(self) -> int | None:
        """Its exit code once it has ended (negative: the signal that ended it), else None."""
        return self.proc.returncode if self.proc is not None else None

    async def stop(self, timeout: float = STOP_SECONDS) -> None:
        """SIGTERM, then SIGKILL if it has not ended within ``timeout`` seconds."""
        self.stopping = True
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()

    def last_error(self) -> str | None:
        """The last ``error: ...`` line of its log (what a child says when it cannot start), or its last line."""
        try:
            lines = self.log.read_text(encoding="utf-8", errors="replace").splitlines()[-200:]
        except OSError:
            return None
        errors = [line for line in lines if line.startswith("error: ")]
        if errors:
            return errors[-1].removeprefix("error: ")
        return next((line for line in reversed(lines) if line.strip()), None)
