"""What the reviewer plans and reports: writes (``Action``), and one report per pull request and pass."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

__all__ = ["Action", "MergeReport", "ReviewReport"]


@dataclass
class Action:
    """One planned write: ``kind`` is review, approve, comment, label, dismiss or merge; ``apply`` is None
    when the check found nothing to write."""

    kind: str
    description: str
    apply: Callable[[], Awaitable[object]] | None = field(default=None, repr=False)


@dataclass
class ReviewReport:
    """``verdict``: approved, changes_requested, escalated, pre_reviewed (planned, then written), or
    reviewed_already, waiting (proof pending, head moved while fetching), skipped, denied, error."""

    repository: str
    number: int
    head: str
    verdict: str
    reasons: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)


@dataclass
class MergeReport:
    """``outcome``: merged, blocked, ready (dry run), head_moved (409), refused (405), denied, skipped or error."""

    repository: str
    number: int
    head: str
    outcome: str
    reasons: list[str] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
