"""The waiting line as the forge shows it now, read-only (``uni-wizard dispatch queue``).

One listing of the open issues per repository: the waiting ones (``status/triage``, not held), in the order
the dispatcher will route them (``waiting.py``), and the room each house has (open issues in
``status/routed`` or ``status/in-progress`` carrying its ``house/*`` label, against its ``max_concurrency``);
``states`` counts each house's open issues by status (``QUEUE_STATUSES``: the Now view's queue) and
``in_progress`` names those in progress. Nothing is written, no lease is taken: it can run beside the
dispatcher.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..forge.models import Issue
from ..policy.model import HousePolicy
from ..reporef import RepoRef
from .forge_api import DispatchForge
from .state import derive
from .waiting import NEVER, Waiting, WaitLine, free_slots

__all__ = ["QUEUE_STATUSES", "LineView", "format_age", "house_states", "read_line"]

BUSY = ("routed", "in-progress")
QUEUE_STATUSES = ("routed", "in-progress", "blocked", "review")
"""The statuses of a house's queue, in the order an issue passes them (``blocked`` and ``review`` wait on people)."""


@dataclass
class LineView:
    """The waiting issues in routing order, the houses' load and capacity, and when it was read."""

    waiting: list[Waiting]
    load: dict[str, int]
    capacity: dict[str, int]
    now: float
    free: int = 0
    repos: tuple[str, ...] = field(default_factory=tuple)
    states: dict[str, dict[str, int]] = field(default_factory=dict)  # house -> status -> open issues
    in_progress: dict[str, set[tuple[str, int]]] = field(default_factory=dict)  # house -> (repository, number)

    def rows(self) -> list[dict[str, Any]]:
        """One dict per waiting issue, in routing order (the ``--json`` shape)."""
        return [
            {
                "position": place,
                "repository": w.repo,
                "issue": w.number,
                "priority": w.priority,
                "age_seconds": round(w.age(self.now), 1),
                "created_at": None if w.created_at == NEVER else w.created_at.isoformat(),
                "title": w.title,
            }
            for place, w in enumerate(self.waiting, start=1)
        ]

    def as_json(self) -> dict[str, Any]:
        houses = {name: {"open": self.load.get(name, 0), "max": cap} for name, cap in sorted(self.capacity.items())}
        return {"repositories": list(self.repos), "free": self.free, "houses": houses, "waiting": self.rows()}


def house_load(issues: Sequence[Issue]) -> dict[str, int]:
    """Open issues routed to or in progress in each house (by its ``house/*`` label)."""
    load: dict[str, int] = {}
    for issue in issues:
        state = derive(issue)
        if state.open and state.status in BUSY and state.house:
            load[state.house] = load.get(state.house, 0) + 1
    return load


def house_states(
    listed: Sequence[tuple[str, Issue]],
) -> tuple[dict[str, dict[str, int]], dict[str, set[tuple[str, int]]]]:
    """Of ``(repository, issue)`` pairs: each house's open issues (its ``house/*`` label) by status, for the
    ``QUEUE_STATUSES`` only, and the ``(repository, number)`` of those in progress."""
    states: dict[str, dict[str, int]] = {}
    in_progress: dict[str, set[tuple[str, int]]] = {}
    for repo, issue in listed:
        state = derive(issue)
        if not state.open or not state.house or state.status not in QUEUE_STATUSES:
            continue
        states.setdefault(state.house, dict.fromkeys(QUEUE_STATUSES, 0))[state.status] += 1
        if state.status == "in-progress":
            in_progress.setdefault(state.house, set()).add((repo, issue.number))
    return states, in_progress


async def read_line(
    forge: DispatchForge,
    repos: Sequence[str],
    houses: Mapping[str, HousePolicy],
    *,
    hold_label: str,
    clock: Callable[[], float] = time.time,
) -> LineView:
    """The line and the houses' room across ``repos``: one listing of open issues per repository."""
    line = WaitLine(hold_label, clock)
    load: dict[str, int] = {}
    listed: list[tuple[str, Issue]] = []
    for repo in repos:
        owner, name = RepoRef.parse(repo)
        issues = [i async for i in forge.iter_issues(owner, name, state="open", type="issues")]
        line.reset(repo, issues)
        listed += [(repo, issue) for issue in issues]
        for house, count in house_load(issues).items():
            load[house] = load.get(house, 0) + count
    takers = {name: p for name, p in houses.items() if p.rules.may_take_issues}
    capacity = {name: p.max_concurrency for name, p in takers.items()}
    states, in_progress = house_states(listed)
    free = free_slots(takers, load)
    return LineView(line.ordered(), load, capacity, clock(), free, tuple(repos), states, in_progress)


def format_age(seconds: float) -> str:
    """``42s``, ``7m``, ``3h05m``, ``2d04h``: short enough for a narrow column."""
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m"
    if whole < 86400:
        return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d{whole % 86400 // 3600:02d}h"
