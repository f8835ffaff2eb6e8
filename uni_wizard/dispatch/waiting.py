"""The waiting line: issues triaged but not routed (``status/triage``), in the order they will be routed.

Back-pressure: when every house that takes issues is full, a triaged issue stays in ``status/triage`` and
waits. When room frees up, waiting issues are routed in order of priority (P0 first), oldest first within a
priority (``created_at``, then number, then repository), across every watched repository; never in
``updated_at`` order, which would let an issue touched often starve an old one. An unknown or missing
priority (``priority/P9``, none) sorts last: a label anyone can write never jumps the line. An issue held by
a person (the hold label) is not waiting: it is not routed until ``/unhold``.

The line lives in memory, kept from what the dispatcher reads anyway (each sweep's listing, each issue it
handles) and, once per repository when it starts with an incremental sweep or a webhook, one listing of its
``status/triage`` issues: no read per issue. ``WaitLine.gate`` keeps a new issue from being routed while an
issue that sorts before it waits (it joins the line instead); ``loop.drain`` routes the line, head first, while
a house has room (``loop.drain``).

    line = WaitLine(hold_label="hold")
    line.observe("org/repo", issue)                 # from a listing or a handled issue
    [w.number for w in line.ordered()]              # the order of routing
    line.place_text(entry)                          # "Waiting: 3rd of 5, behind #12 (P1), #9 (P2)."
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from ..forge.models import Issue
from ..policy.model import HousePolicy
from .types import RoutingDecision

__all__ = [
    "NEVER",
    "PRIORITIES",
    "UNKNOWN",
    "WaitLine",
    "Waiting",
    "free_slots",
    "ordinal",
    "priority_of",
    "rank",
    "waiting_entry",
]

PRIORITIES = ("P0", "P1", "P2", "P3")
UNKNOWN = "unknown"  # a missing or unknown priority label: last in the line
WAITING_STATUS = "status/triage"
NEVER = datetime.max.replace(tzinfo=UTC)  # an issue without a creation time sorts last in its priority
SHOWN_AHEAD = 3  # how many issues ahead the place text names


def rank(priority: str) -> int:
    """0 for P0 ... 3 for P3; anything else (unknown) 4: last."""
    return PRIORITIES.index(priority) if priority in PRIORITIES else len(PRIORITIES)


def priority_of(labels: Iterable[str]) -> str:
    """The priority the ``priority/*`` labels give (several: the lowest, so that adding one never jumps the
    line); ``unknown`` when there is none that triage gives."""
    found = [name.split("/", 1)[1] for name in labels if name.startswith("priority/")]
    known = [p for p in found if p in PRIORITIES]
    return max(known, key=rank) if known else UNKNOWN


@dataclass(frozen=True)
class Waiting:
    """One waiting issue: what its place in the line depends on, and its title for people."""

    repo: str
    number: int
    priority: str
    created_at: datetime = NEVER
    title: str = ""

    @property
    def id(self) -> tuple[str, int]:
        return self.repo, self.number

    def key(self) -> tuple[int, datetime, int, str]:
        return rank(self.priority), self.created_at, self.number, self.repo

    def ref(self, home: str) -> str:
        """``#12`` in ``home``'s repository, ``org/other#12`` elsewhere."""
        return f"#{self.number}" if self.repo == home else f"{self.repo}#{self.number}"

    def age(self, now: float) -> float:
        """Seconds since the issue was created (0 when unknown)."""
        return 0.0 if self.created_at == NEVER else max(0.0, now - self.created_at.timestamp())


def waiting_entry(repo: str, issue: Issue, hold_label: str, priority: str | None = None) -> Waiting | None:
    """``issue`` as a waiting entry, or None when it is not waiting (closed, not in ``status/triage``, held
    by a person); ``priority`` overrides its labels' (a verdict not written yet)."""
    names = issue.label_names
    if issue.is_pull or issue.state != "open" or WAITING_STATUS not in names or hold_label in names:
        return None
    return entry_of(repo, issue, priority or priority_of(names))


def entry_of(repo: str, issue: Issue, priority: str) -> Waiting:
    """The entry ``issue`` would have in the line with ``priority``."""
    return Waiting(repo, issue.number, priority, issue.created_at or NEVER, issue.title[:200])


def ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, 11th, 12th, 13th, 21st..."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def free_slots(houses: Mapping[str, HousePolicy], load: Mapping[str, int]) -> int:
    """Room left in the houses that take issues (each at most ``max_concurrency``)."""
    return sum(max(0, p.max_concurrency - load.get(name, 0)) for name, p in houses.items() if p.rules.may_take_issues)


class WaitLine:
    """The waiting issues of every watched repository (see the module docstring)."""

    def __init__(self, hold_label: str = "hold", clock: Callable[[], float] = time.time) -> None:
        self.hold_label = hold_label
        self.clock = clock
        self.known: set[str] = set()  # repositories whose waiting issues were all listed once
        self._entries: dict[tuple[str, int], Waiting] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def observe(self, repo: str, issue: Issue) -> None:
        """Keep ``issue`` in the line, or out of it, as its labels and state say."""
        entry = waiting_entry(repo, issue, self.hold_label)
        if entry is None:
            self._entries.pop((repo, issue.number), None)
        else:
            self._entries[entry.id] = entry

    def reset(self, repo: str, issues: Iterable[Issue]) -> None:
        """``issues`` are every open issue of ``repo`` that may wait: the line of ``repo`` is exactly theirs."""
        self._entries = {k: v for k, v in self._entries.items() if k[0] != repo}
        for issue in issues:
            self.observe(repo, issue)
        self.known.add(repo)

    def put(self, entry: Waiting) -> None:
        self._entries[entry.id] = entry

    def drop(self, repo: str, number: int) -> None:
        self._entries.pop((repo, number), None)

    def ordered(self) -> list[Waiting]:
        """The waiting issues in the order they will be routed."""
        return sorted(list(self._entries.values()), key=Waiting.key)

    def ahead(self, entry: Waiting) -> list[Waiting]:
        """The waiting issues routed before ``entry`` (itself excluded), in order."""
        return [w for w in self.ordered() if w.key() < entry.key() and w.id != entry.id]

    def place_text(self, entry: Waiting) -> str:
        """One line: ``Waiting: 3rd of 5, behind #12 (P1), #9 (P2) and 1 more.``"""
        ahead = self.ahead(entry)
        total = len(self._entries) + (0 if entry.id in self._entries else 1)
        text = f"Waiting: {ordinal(len(ahead) + 1)} of {total}"
        if not ahead:
            return f"{text}, next to be routed when a house has room."
        named = ", ".join(f"{w.ref(entry.repo)} ({w.priority})" for w in ahead[:SHOWN_AHEAD])
        more = f" and {len(ahead) - SHOWN_AHEAD} more" if len(ahead) > SHOWN_AHEAD else ""
        return f"{text}, behind {named}{more}."

    def gate(self, entry: Waiting, decision: RoutingDecision) -> RoutingDecision:
        """``decision`` unless an issue that sorts before ``entry`` waits: then nobody, and ``entry``'s place
        in the line (also said when nobody was chosen anyway)."""
        ahead = self.ahead(entry)
        if decision.chosen is not None and not ahead:
            return decision
        place = self.place_text(entry)
        if decision.chosen is None:
            return replace(decision, reason=f"{decision.reason} {place}")
        why = f"Nobody chosen yet: {len(ahead)} waiting issue(s) of higher or equal priority go first."
        return replace(decision, chosen=None, runner_up=None, reason=f"{why} {place}")

    def blocked(self, entry: Waiting, free: int) -> bool:
        """Whether ``entry`` must keep waiting: no room, or an issue that sorts before it waits."""
        return free <= 0 or bool(self.ahead(entry))

    def summary(self) -> dict[str, tuple[int, float]]:
        """Per priority (P0..P3, unknown): how many wait, and the age in seconds of the oldest."""
        now = self.clock()
        found: dict[str, tuple[int, float]] = {p: (0, 0.0) for p in (*PRIORITIES, UNKNOWN)}
        for entry in list(self._entries.values()):
            priority = entry.priority if entry.priority in PRIORITIES else UNKNOWN
            count, oldest = found[priority]
            found[priority] = (count + 1, max(oldest, entry.age(now)))
        return found
