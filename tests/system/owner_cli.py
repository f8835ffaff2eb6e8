"""What the system tests that drive ``uni-wizard`` as an owner share: the command, a fresh HOME's environment, a
bounded wait that says what it waited for, a free port, stopping a process the way systemd does."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

__all__ = ["NO_MODEL", "cli", "env", "free_port", "stop", "wait"]

T = TypeVar("T")
NO_MODEL = "http://127.0.0.1:9"  # nothing answers there: issues need a playbook, whatever runs on this machine


def cli() -> list[str]:
    """The ``uni-wizard`` command installed beside this Python (the venv's), else the same entry point."""
    script = Path(sys.executable).parent / "uni-wizard"
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from uni_wizard.cli import main; sys.exit(main())"]


def env(home: Path) -> dict[str, str]:
    """This process's environment for an owner whose HOME is ``home``: no ``UNIWIZARD_*``, no XDG directories."""
    found = {k: v for k, v in os.environ.items() if not k.upper().startswith("UNIWIZARD_")}
    found["HOME"] = str(home)
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        found.pop(name, None)
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait(what: str, check: Callable[[], T | None], diagnosis: Callable[[], str], timeout: float = 90.0) -> T:
    """``check()`` once it answers something true, polled every 0.25 s; a failure naming ``what`` and saying
    ``diagnosis()`` after ``timeout`` seconds (a bound, not a speed)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {timeout:g} s waiting for {what}\n{diagnosis()}")
        time.sleep(0.25)


def stop(proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    """SIGTERM, then SIGKILL after ``timeout`` seconds."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
