"""Logging that hostile input cannot flood: the server's own warnings about bad requests are rate-limited.

    install_rate_limits()        # once per process; create_app calls it

uvicorn writes one WARNING per malformed request ("Invalid HTTP request received.": a broken request
line, headers over 16 KiB, a bad ``Content-Length``), asyncio one ERROR per transport failure and the
webhook intake one line per refused delivery (a forged signature is a WARNING); any client can cause
those, so ``RateLimitFilter`` on the ``uvicorn.error``, ``asyncio`` and ``uni_wizard.intake.queue`` loggers
lets at most ``burst`` records of one message template through per ``window`` seconds and drops the rest
(the metrics count every one); the first record let through after a window says how many were dropped.
Records are grouped by template (``record.msg`` before formatting), never by their arguments, so the
groups are bounded.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["RATE_LIMITED_LOGGERS", "RateLimitFilter", "install_rate_limits"]

RATE_LIMITED_LOGGERS = ("uvicorn.error", "asyncio", "uni_wizard.intake.queue")
_MAX_TEMPLATES = 256


@dataclass
class _Window:
    start: float
    passed: int = 1
    dropped: int = 0


class RateLimitFilter(logging.Filter):
    """At most ``burst`` records per (logger, level, template) per ``window`` seconds."""

    def __init__(self, burst: int = 5, window: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.burst = burst
        self.window = window
        self.clock = clock
        self._windows: dict[tuple[str, int, str], _Window] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.levelno, str(record.msg))
        now = self.clock()
        with self._lock:
            window = self._windows.get(key)
            if window is None or now - window.start >= self.window:
                dropped = window.dropped if window is not None else 0
                if window is None and len(self._windows) >= _MAX_TEMPLATES:
                    self._windows.pop(next(iter(self._windows)))
                self._windows[key] = _Window(now)
                if dropped:
                    suffix = f" [{dropped} more like this dropped in {self.window:g} s]"
                    record.msg = str(record.msg).rstrip("\n") + suffix
                return True
            if window.passed < self.burst:
                window.passed += 1
                return True
            window.dropped += 1
            return False


def install_rate_limits(burst: int = 5, window: float = 60.0) -> None:
    """Put one ``RateLimitFilter`` on each of ``RATE_LIMITED_LOGGERS`` (again: nothing changes)."""
    for name in RATE_LIMITED_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RateLimitFilter) for f in logger.filters):
            logger.addFilter(RateLimitFilter(burst, window))
