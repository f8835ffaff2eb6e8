"""Run a subprocess the one way the package allows: argv list, timeout, capped output.

Never through a shell. On timeout the whole process group is killed and
``ToolTimeout`` raised; output beyond ``max_output`` bytes per stream is read
and dropped (so the child never blocks on a full pipe) and ``truncated`` is set.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import ToolExecutionError, ToolTimeout

__all__ = ["Completed", "run"]

_CHUNK = 65536


@dataclass(frozen=True)
class Completed:
    """What a finished subprocess left: exit code, decoded output, whether output was capped."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    truncated: bool
    duration: float

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines of stdout and stderr together."""
        text = (self.stdout + ("\n" + self.stderr if self.stderr else "")).rstrip("\n")
        return "\n".join(text.splitlines()[-lines:])


async def _drain(stream: asyncio.StreamReader, cap: int) -> tuple[bytes, bool]:
    kept = bytearray()
    truncated = False
    while chunk := await stream.read(_CHUNK):
        room = cap - len(kept)
        if room > 0:
            kept += chunk[:room]
        if len(chunk) > room:
            truncated = True
    return bytes(kept), truncated


async def run(
    argv: Sequence[str],
    *,
    timeout: float,
    cwd: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
    max_output: int = 1_000_000,
    inherit_env: bool = True,
    pass_fds: Sequence[int] = (),
) -> Completed:
    """Run ``argv`` and wait for it, at most ``timeout`` seconds.

    ``env`` entries are added to the current environment, or (``inherit_env=False``) are the
    whole environment. ``pass_fds`` stay open in the child under the same numbers. Raises
    ``ToolExecutionError`` when the executable does not exist and ``ToolTimeout`` when the deadline passes.
    """
    started = time.monotonic()
    if not inherit_env:
        full_env: Mapping[str, str] | None = dict(env or {})
    else:
        full_env = {**os.environ, **env} if env else None
    proc = await _start(argv, cwd, full_env, stdin is not None, pass_fds)
    try:
        async with asyncio.timeout(timeout):
            (out, out_cut), (err, err_cut), code = await _communicate(proc, stdin, max_output)
    except (TimeoutError, asyncio.CancelledError) as exc:
        _kill_group(proc)
        await proc.wait()
        if isinstance(exc, asyncio.CancelledError):
            raise
        raise ToolTimeout(f"{' '.join(argv[:3])} did not finish within {timeout:g} s; killed") from None
    return Completed(
        argv=tuple(argv),
        returncode=code,
        stdout=out.decode("utf-8", "replace"),
        stderr=err.decode("utf-8", "replace"),
        truncated=out_cut or err_cut,
        duration=time.monotonic() - started,
    )


async def _start(
    argv: Sequence[str],
    cwd: str | Path | None,
    env: Mapping[str, str] | None,
    with_stdin: bool,
    pass_fds: Sequence[int],
) -> asyncio.subprocess.Process:
    """The child in a session of its own (so a timeout kills its whole group); ``ToolExecutionError`` when
    the executable or the working directory is missing or not allowed."""
    try:
        return await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            env=env,
            stdin=asyncio.subprocess.PIPE if with_stdin else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
            pass_fds=tuple(pass_fds),
        )
    except FileNotFoundError as exc:
        missing = argv[0] if not cwd or Path(cwd).is_dir() else f"working directory {cwd}"
        raise ToolExecutionError(f"cannot run {argv[0]}: {missing} not found") from exc
    except PermissionError as exc:
        raise ToolExecutionError(f"cannot run {argv[0]}: permission denied") from exc


async def _communicate(
    proc: asyncio.subprocess.Process, stdin: bytes | None, max_output: int
) -> tuple[tuple[bytes, bool], tuple[bytes, bool], int]:
    """Feed ``stdin``, drain both streams (capped) and wait for the exit code."""
    assert proc.stdout is not None and proc.stderr is not None
    if stdin is not None and proc.stdin is not None:
        proc.stdin.write(stdin)
        await proc.stdin.drain()
        proc.stdin.close()
    out, err = await asyncio.gather(_drain(proc.stdout, max_output), _drain(proc.stderr, max_output))
    return out, err, await proc.wait()


def _kill_group(proc: asyncio.subprocess.Process) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        return  # it ended on its own between the deadline and the kill
