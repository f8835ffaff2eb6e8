"""The pattern database: what each house's calls of each tool did, and what to expect next time.

INTELLIGENT and SOVEREIGN calls ask ``predict`` before running (success
probability, expected duration, and the timeout and retry budget adapted from
history) and ``learn`` after. Statistics live in memory for speed and are
written through to the ``tool_stats`` table with the store's group commit.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass

from ..store import Store, utc_now

__all__ = ["PatternDB", "Prediction", "ToolStats"]


@dataclass
class ToolStats:
    calls: int = 0
    successes: int = 0
    ewma_duration: float = 0.0
    max_duration: float = 0.0

    @property
    def success_probability(self) -> float:
        """Laplace-smoothed, so a tool never seen is predicted at 0.5, not 0 or 1."""
        return (self.successes + 1) / (self.calls + 2)


@dataclass(frozen=True)
class Prediction:
    success_probability: float
    expected_duration: float
    samples: int
    timeout: float
    retries: int

    def as_dict(self) -> dict[str, float | int]:
        return {
            "success_probability": round(self.success_probability, 4),
            "expected_duration": round(self.expected_duration, 6),
            "samples": self.samples,
            "timeout": self.timeout,
            "retries": self.retries,
        }


class PatternDB:
    """History per (house, tool), with the rules that turn it into advice.

    - timeout: with at least ``min_samples`` calls, ``min(declared, max(floor, 10 x ewma, 2 x max))``:
      a call far slower than this tool has ever been is cut short, but never below ``timeout_floor``.
    - retries: with at least ``min_samples`` calls and a success probability under 0.2, none: retrying
      a tool that nearly always fails only delays the failure (its breaker handles the rest).
    """

    def __init__(self, store: Store, *, alpha: float = 0.2, min_samples: int = 10, timeout_floor: float = 5.0) -> None:
        self.store = store
        self.alpha = alpha
        self.min_samples = min_samples
        self.timeout_floor = timeout_floor
        self._stats: dict[tuple[str, str], ToolStats] = {}
        self._lock = threading.Lock()
        self._loaded = False

    def _load(self) -> None:
        rows = self.store.query("SELECT house, tool, calls, successes, ewma_duration, max_duration FROM tool_stats")
        with self._lock:
            for r in rows:
                self._stats.setdefault((r[0], r[1]), ToolStats(r[2], r[3], r[4], r[5]))
            self._loaded = True

    def stats(self, house: str, tool: str) -> ToolStats:
        if not self._loaded:
            self._load()
        return self._stats.get((house, tool)) or ToolStats()

    def predict(self, house: str, tool: str, *, declared_timeout: float, max_retries: int) -> Prediction:
        stats = self.stats(house, tool)
        timeout, retries = declared_timeout, max_retries
        if stats.calls >= self.min_samples:
            learned = max(self.timeout_floor, 10 * stats.ewma_duration, 2 * stats.max_duration)
            timeout = min(declared_timeout, learned)
            if stats.success_probability < 0.2:
                retries = 0
        return Prediction(stats.success_probability, stats.ewma_duration, stats.calls, timeout, retries)

    def learn(self, house: str, tool: str, *, ok: bool, duration: float) -> Callable[[sqlite3.Connection], None]:
        """Fold one outcome into the statistics; return the write-through, to run in the caller's transaction."""
        if not self._loaded:
            self._load()
        with self._lock:
            s = self._stats.setdefault((house, tool), ToolStats())
            s.ewma_duration = duration if s.calls == 0 else (1 - self.alpha) * s.ewma_duration + self.alpha * duration
            s.calls += 1
            s.successes += int(ok)
            s.max_duration = max(s.max_duration, duration)
        alpha = self.alpha

        def write(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO tool_stats VALUES (?, ?, 1, ?, ?, ?, ?) ON CONFLICT(house, tool) DO UPDATE SET"
                " calls = calls + 1, successes = successes + excluded.successes,"
                " ewma_duration = (1 - ?) * ewma_duration + ? * excluded.ewma_duration,"
                " max_duration = max(max_duration, excluded.max_duration), updated_at = excluded.updated_at",
                (house, tool, int(ok), duration, duration, utc_now(), alpha, alpha),
            )

        return write
