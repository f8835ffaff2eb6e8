"""What the dispatcher's sweeps report, and what the event log says of them (``DispatchLoop``'s bookkeeping).

``SweepReport`` is one sweep of one repository: the issues it handled, the writes it planned and what failed.
``SweepLog`` turns reports into events: ``sweep.finished`` for a sweep that repaired or failed something, and for
the first sweep of each repository; the idle ones counted (``IdleSweeps``) into one ``sweep.summary`` every
``dispatcher.idle_summary_minutes``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ..forge.actions import Action
from ..observe.events import EventKind, EventLog

__all__ = ["IdleSweeps", "SweepLog", "SweepReport"]


@dataclass
class SweepReport:
    repository: str
    full: bool
    issues: int = 0
    actions: list[tuple[int, Action]] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)
    duration: float = 0.0

    @property
    def repairs(self) -> int:
        return sum(1 for _, a in self.actions if a.apply is not None)


@dataclass
class IdleSweeps:
    """The sweeps of one repository that repaired nothing since ``since`` (wall seconds)."""

    since: float
    sweeps: int = 0
    full: int = 0
    issues: int = 0
    seconds: float = 0.0

    def add(self, report: SweepReport) -> None:
        self.sweeps += 1
        self.full += int(report.full)
        self.issues += report.issues
        self.seconds += report.duration

    def summary(self) -> dict[str, object]:
        return {
            "sweeps": self.sweeps,
            "full": self.full,
            "issues": self.issues,
            "repairs": 0,
            "seconds": round(self.seconds, 3),
            "since": datetime.fromtimestamp(self.since, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }


class SweepLog:
    """What the event log says of sweeps: ``sweep.finished`` for a sweep that repaired or failed something, and
    for the first sweep of each repository (the loop is up); the idle ones counted into one ``sweep.summary``
    every ``summary_minutes`` (0: never), so the log tells what happened instead of that nothing did."""

    def __init__(self) -> None:
        self.announced: set[str] = set()  # repositories whose first sweep was logged
        self.idle: dict[str, IdleSweeps] = {}  # idle sweeps not yet summarised, per repository

    async def finished(self, report: SweepReport, events: EventLog, now: float, *, summary_minutes: float) -> None:
        repo = report.repository
        if report.repairs or report.failed or repo not in self.announced:
            self.announced.add(repo)
            data = {
                "full": report.full,
                "issues": report.issues,
                "repairs": report.repairs,
                "failed": len(report.failed),
                "seconds": round(report.duration, 3),
            }
            await events.emit(EventKind.SWEEP_FINISHED, f"sweep:{uuid.uuid4()}", repository=repo, data=data)
            return
        idle = self.idle.setdefault(repo, IdleSweeps(since=now))
        idle.add(report)
        if summary_minutes and now - idle.since >= summary_minutes * 60:
            del self.idle[repo]
            key = f"sweep-summary:{uuid.uuid4()}"
            await events.emit(EventKind.SWEEP_SUMMARY, key, repository=repo, data=idle.summary())
