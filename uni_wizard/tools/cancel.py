"""Cooperative cancellation for tools that run in a worker thread.

A thread cannot be killed. So the Harness runs a blocking tool inside :func:`scope` with the call's
deadline and an event it sets when the call times out; the tool calls :func:`check` between chunks
of work (each read, each directory entry) and stops with ``ToolTimeout``. The thread then returns to
its pool within one chunk instead of working on for a caller who has gone.

    with scope(deadline=time.monotonic() + 5):
        while chunk := os.read(fd, 65536):
            check()
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from ..errors import ToolTimeout

__all__ = ["check", "remaining", "scope"]

_deadline: ContextVar[float | None] = ContextVar("uniwizard_tool_deadline", default=None)
_cancelled: ContextVar[threading.Event | None] = ContextVar("uniwizard_tool_cancelled", default=None)


@contextmanager
def scope(*, deadline: float | None = None, cancelled: threading.Event | None = None) -> Iterator[None]:
    """Run the block under ``deadline`` (``time.monotonic()`` seconds) and/or until ``cancelled`` is set."""
    tokens = (_deadline.set(deadline), _cancelled.set(cancelled))
    try:
        yield
    finally:
        _cancelled.reset(tokens[1])
        _deadline.reset(tokens[0])


def remaining() -> float | None:
    """Seconds left before the deadline (at least 0), or ``None`` without one."""
    deadline = _deadline.get()
    return None if deadline is None else max(deadline - time.monotonic(), 0.0)


def check() -> None:
    """``ToolTimeout`` once the call was cancelled or its deadline passed; otherwise nothing."""
    event = _cancelled.get()
    if event is not None and event.is_set():
        raise ToolTimeout("the call was cancelled (it ran out of time)")
    deadline = _deadline.get()
    if deadline is not None and time.monotonic() > deadline:
        raise ToolTimeout("the call ran out of time")
