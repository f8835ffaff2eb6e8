"""What the reviewer plans and reports: writes (``Action``, the forge's one planned-write type: ``kind`` is
review, approve, comment, label, dismiss or merge), and one report per pull request and pass."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from ..forge.actions import Action

__all__ = ["Action", "MergeReport", "QueueLine", "ReviewReport"]


@dataclass
class ReviewReport:
    """``verdict``: approved, changes_requested, escalated, pre_reviewed (planned, then written), held (the
    tests wait for the owner's approval of the head: it changes rerun_needs_owner_paths; the request is
    written), or reviewed_already, waiting (proof pending, head moved while fetching, held already),
    skipped, denied, error."""

    repository: str
    number: int
    head: str
    verdict: str
    reasons: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    author: str = ""  # the forge user who opened the PR (the metrics' house)


@dataclass
class MergeReport:
    """``outcome``: merged, blocked, ready (dry run), head_moved (409), refused (405), rejected (the merge queue
    found it breaks its target branch: changes requested), denied, skipped or error."""

    repository: str
    number: int
    head: str
    outcome: str
    reasons: list[str] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    approved_by: str | None = None  # ready or merged: whose approval of the head counted
    author: str = ""  # the forge user who opened the PR (the metrics' house)
    opened_at: datetime | None = None  # when the PR was opened (ready or merged)
    approved_at: datetime | None = None  # when the approval that counted was given (ready or merged)


@dataclass(frozen=True)
class QueueLine:
    """``state``: queued (lands in ``position`` order on ``base_ref``), held, or blocked (``reasons``)."""

    repository: str
    base_ref: str
    number: int
    head: str
    title: str
    state: str
    position: int | None = None
    approved_by: str | None = None
    reasons: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "reasons": list(self.reasons)}
