"""Where an escalation goes (a mention now, or the next digest), and how each category's threshold learns.

Every escalation has a ``category`` (``upgrade``, ``docs``, ``review``...), a ``kind`` within it
(``upgrade.rolled_back``) and a ``weight`` in [0, 1] (how much it matters: 0.5 unless the raiser knows better).
The route, in order:

1. urgent (its ``category.kind`` or its ``category`` is in ``urgent``): at once, always: never batched;
2. pinned by the owner (``uni-wizard escalations pin CATEGORY immediate|digest``): as pinned;
3. ``weight >= threshold`` of its category: at once; else into the digest.

Each category's threshold starts at ``start`` and moves by ``step`` on each decided engagement: down when the
owner acted on the escalated item within the engagement window (stays immediate), up when they did not (moves
to the digest); always clamped to ``[low, high]``. The table is ``attention_thresholds``.

    calibration = Calibration(low=0.2, high=0.8, urgent=frozenset({"peer.down"}))
    thresholds = Thresholds(store, calibration)
    thresholds.route("docs", "docs.stale", 0.5)      # Routing("immediate", "weight 0.50 >= threshold 0.50 ...")
    thresholds.learn("docs", acted=False)           # 0.60: the next docs escalation of weight 0.5 is batched
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from ..errors import ConfigError
from ..store import Store

__all__ = ["DEFAULT_WEIGHT", "Calibration", "CategoryState", "Route", "Routing", "Thresholds"]

Route = Literal["immediate", "digest"]
DEFAULT_WEIGHT = 0.5  # an escalation's weight unless its raiser knows better


@dataclass(frozen=True)
class Calibration:
    """The bounds and step of the thresholds, the urgent kinds, the digest window and the engagement window."""

    low: float = 0.2
    high: float = 0.8
    start: float = 0.5
    step: float = 0.1
    urgent: frozenset[str] = field(default_factory=lambda: frozenset({"upgrade.rolled_back", "peer.down", "issue.p0"}))
    window_seconds: float = 4 * 3600.0
    engage_seconds: float = 24 * 3600.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.low <= self.start <= self.high <= 1.0:
            raise ConfigError(
                f"escalation thresholds need 0 <= low <= start <= high <= 1, not low {self.low}, start {self.start}, "
                f"high {self.high}",
                key="escalation_threshold_min",
            )

    def is_urgent(self, category: str, kind: str) -> bool:
        return category in self.urgent or kind in self.urgent


@dataclass(frozen=True)
class Routing:
    route: Route
    why: str


@dataclass(frozen=True)
class CategoryState:
    """One category's threshold, what it learned from, and its pin."""

    category: str
    threshold: float
    acted: int
    ignored: int
    pinned: Route | None

    def why(self, calibration: Calibration) -> str:
        """Why the threshold is where it is, in one line."""
        if self.pinned is not None:
            return f"pinned to {self.pinned} by the owner"
        seen = self.acted + self.ignored
        if seen == 0:
            return f"no engagement decided yet: the starting threshold {calibration.start:.2f}"
        where = (
            " (at its upper bound)"
            if self.threshold >= calibration.high
            else " (at its lower bound)"
            if self.threshold <= calibration.low
            else ""
        )
        return f"the owner acted on {self.acted} of {seen} escalations within the window{where}"

    def as_dict(self, calibration: Calibration) -> dict[str, object]:
        return {
            "category": self.category,
            "threshold": round(self.threshold, 4),
            "acted": self.acted,
            "ignored": self.ignored,
            "pinned": self.pinned,
            "route_of_weight_0_5": self.pinned or ("immediate" if self.threshold <= DEFAULT_WEIGHT else "digest"),
            "why": self.why(calibration),
        }


class Thresholds:
    """The per-category thresholds of ``store`` under ``calibration``."""

    def __init__(self, store: Store, calibration: Calibration, *, clock: Callable[[], float] = time.time) -> None:
        self.store, self.calibration, self.clock = store, calibration, clock

    def state(self, category: str) -> CategoryState:
        rows = self.store.query("SELECT * FROM attention_thresholds WHERE category = ?", (category,))
        return _state(rows[0]) if rows else CategoryState(category, self.calibration.start, 0, 0, None)

    def all(self) -> list[CategoryState]:
        return [_state(row) for row in self.store.query("SELECT * FROM attention_thresholds ORDER BY category")]

    def route(self, category: str, kind: str, weight: float) -> Routing:
        """Where an escalation of ``category``/``kind`` with ``weight`` goes, and why (see the module docstring)."""
        if self.calibration.is_urgent(category, kind):
            return Routing("immediate", f"urgent: {kind} is always sent at once")
        state = self.state(category)
        if state.pinned is not None:
            return Routing(state.pinned, f"{category} is pinned to {state.pinned} by the owner")
        if weight >= state.threshold:
            return Routing("immediate", f"weight {weight:.2f} >= the {category} threshold {state.threshold:.2f}")
        return Routing("digest", f"weight {weight:.2f} < the {category} threshold {state.threshold:.2f}")

    def learn(self, category: str, *, acted: bool) -> float:
        """Move ``category``'s threshold for one decided engagement (clamped to the bounds); the new threshold."""
        cal = self.calibration
        state = self.state(category)
        moved = state.threshold - cal.step if acted else state.threshold + cal.step
        threshold = min(cal.high, max(cal.low, round(moved, 6)))
        self.store.submit(
            lambda db: db.execute(
                "INSERT INTO attention_thresholds (category, threshold, acted, ignored, pinned, updated_at) "
                "VALUES (?, ?, ?, ?, NULL, ?) ON CONFLICT(category) DO UPDATE SET threshold = excluded.threshold, "
                "acted = acted + excluded.acted, ignored = ignored + excluded.ignored, "
                "updated_at = excluded.updated_at",
                (category, threshold, int(acted), int(not acted), self.clock()),
            )
        ).result()
        return threshold

    def pin(self, category: str, route: Route | None) -> CategoryState:
        """Pin ``category`` to ``route`` (None: unpin; the threshold decides again)."""
        if route not in ("immediate", "digest", None):
            raise ConfigError(f"a category is pinned to 'immediate' or 'digest', not {route!r}")
        start = self.calibration.start
        self.store.submit(
            lambda db: db.execute(
                "INSERT INTO attention_thresholds (category, threshold, acted, ignored, pinned, updated_at) "
                "VALUES (?, ?, 0, 0, ?, ?) ON CONFLICT(category) DO UPDATE SET pinned = excluded.pinned, "
                "updated_at = excluded.updated_at",
                (category, start, route, self.clock()),
            )
        ).result()
        return self.state(category)


def _state(row: sqlite3.Row) -> CategoryState:
    pinned = row["pinned"]
    return CategoryState(
        row["category"],
        float(row["threshold"]),
        int(row["acted"]),
        int(row["ignored"]),
        pinned if pinned in ("immediate", "digest") else None,
    )
