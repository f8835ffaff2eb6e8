"""An exclusive lock on a file across processes (``flock``), taken without blocking the event loop.

The reviewer's bare caches are shared by whatever reviews on this host (the daemon's reviewer, a ``uni-wizard
review once`` beside it), the workers' mirrors by the workers of a house: each takes the cache's or mirror's
lock around what writes to it (fetches, worktree bookkeeping).
The kernel drops the lock when its holder dies, even by ``kill -9``: whoever holds it knows that no git it did
not start is writing to the cache, so a git lock file found then was left by a git that was killed.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from ..errors import ToolExecutionError

__all__ = ["file_lock"]

POLL_SECONDS = 0.02


@asynccontextmanager
async def file_lock(path: Path, *, timeout: float) -> AsyncIterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if missing, never through a symlink); a
    ``ToolExecutionError`` when another process holds it for ``timeout`` seconds."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ToolExecutionError(f"{path} stayed locked by another process for {timeout:g} s") from None
                await asyncio.sleep(POLL_SECONDS)
        yield
    finally:
        os.close(fd)  # drops the lock
