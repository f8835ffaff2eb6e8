"""An issue's state, re-derived every time from what the forge shows: labels, assignees, comments.

The forge thread is the ledger; nothing here is remembered between sweeps. Pure functions only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from ..forge.models import Comment, Issue

__all__ = ["CLAIM_MARKER", "FLAGS", "Claim", "IssueState", "derive", "latest_claim", "managed", "relabeled"]

# Written by a house worker when it claims an issue:
#   <!-- uni-wizard:claim house=bezalel expires=2026-11-21T07:00:00Z -->
CLAIM_MARKER = re.compile(r"<!-- uni-wizard:claim house=(?P<house>[\w-]+) expires=(?P<expires>[0-9T:.+Z-]+) -->")
MANAGED_PREFIXES = ("status/", "house/", "kind/", "priority/")
FLAGS = ("epic", "needs-info")  # set or cleared by triage; not scoped


@dataclass(frozen=True)
class Claim:
    house: str
    expires: datetime
    comment_id: int


@dataclass(frozen=True)
class IssueState:
    """``status`` is the ``status/*`` label without its scope (None: untriaged); ``house`` the ``house/*`` one."""

    number: int
    open: bool
    status: str | None
    house: str | None
    assignees: tuple[str, ...]
    labels: tuple[str, ...]

    @property
    def untriaged(self) -> bool:
        return self.status in (None, "triage")


def managed(label: str) -> bool:
    """Whether the dispatcher owns this label (it leaves every other label alone)."""
    return label.startswith(MANAGED_PREFIXES) or label in FLAGS


def relabeled(current: Iterable[str], wanted: set[str], *, flags: bool = False) -> list[str]:
    """``current`` with the managed labels of ``wanted``'s scopes replaced by ``wanted`` (and, with ``flags``,
    the epic and needs-info flags dropped); every other label, managed or not, stays. Sorted."""
    scopes = {w.split("/", 1)[0] for w in wanted if "/" in w}
    kept = {
        n
        for n in current
        if not (managed(n) and "/" in n and n.split("/", 1)[0] in scopes) and not (flags and n in FLAGS)
    }
    return sorted(kept | wanted)


def derive(issue: Issue) -> IssueState:
    names = tuple(label.name for label in issue.labels)
    status = next((n.split("/", 1)[1] for n in names if n.startswith("status/")), None)
    house = next((n.split("/", 1)[1] for n in names if n.startswith("house/")), None)
    return IssueState(
        number=issue.number,
        open=issue.state == "open",
        status=status,
        house=house,
        assignees=tuple(sorted(u.login for u in issue.assignees)),
        labels=names,
    )


def latest_claim(comments: Sequence[Comment], trusted: Iterable[str]) -> Claim | None:
    """The newest claim comment written by one of the ``trusted`` logins (house users)."""
    allowed = set(trusted)
    for comment in reversed(comments):
        if comment.user is None or comment.user.login not in allowed:
            continue
        match = CLAIM_MARKER.search(comment.body)
        if match:
            expires = datetime.fromisoformat(match["expires"].replace("Z", "+00:00"))
            return Claim(match["house"], expires, comment.id)
    return None
