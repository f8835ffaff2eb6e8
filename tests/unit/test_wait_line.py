"""The waiting line's order: priority first (unknown last), then age, then number; its place text and gate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from uni_wizard.dispatch.types import RoutingDecision
from uni_wizard.dispatch.waiting import Waiting, WaitLine, ordinal, priority_of, rank
from uni_wizard.forge.models import Issue

T0 = datetime(2026, 1, 1, tzinfo=UTC)
REPO = "org/repo"


def issue(number: int, *labels: str, minutes: int = 0, state: str = "open", updated: int = 0) -> Issue:
    data: dict[str, Any] = {
        "id": number,
        "number": number,
        "title": f"issue {number}",
        "state": state,
        "labels": [{"id": i, "name": n} for i, n in enumerate(labels)],
        "created_at": (T0 + timedelta(minutes=minutes)).isoformat(),
        "updated_at": (T0 + timedelta(minutes=updated)).isoformat(),
    }
    return Issue.model_validate(data)


def test_priority_of_hostile_labels_is_never_better_than_the_real_one() -> None:
    assert priority_of(["priority/P1"]) == "P1"
    assert priority_of(["priority/P9"]) == "unknown" and priority_of([]) == "unknown"
    assert priority_of(["priority/P0", "priority/P3"]) == "P3"  # two labels: the lower one
    assert priority_of(["priority/", "priority/p0", "priority/P0/x"]) == "unknown"
    assert rank("unknown") > rank("P3") > rank("P0")


def test_the_line_is_priority_then_created_at_then_number_never_updated_at() -> None:
    line = WaitLine()
    line.observe(REPO, issue(1, "status/triage", "priority/P2", minutes=0, updated=99))
    line.observe(REPO, issue(2, "status/triage", "priority/P1", minutes=5))
    line.observe(REPO, issue(3, "status/triage", "priority/P2", minutes=10, updated=1))
    line.observe(REPO, issue(4, "status/triage", "priority/P0", minutes=20))
    line.observe(REPO, issue(5, "status/triage", "priority/P9", minutes=-100))  # hostile: last
    line.observe(REPO, issue(6, "status/triage", minutes=-200))  # no priority: last, oldest first
    line.observe(REPO, issue(7, "status/triage", "priority/P2", minutes=10))  # same minute as 3: by number
    line.observe(REPO, issue(8, "status/triage", "priority/P0", "hold"))  # held by a person: not waiting
    line.observe(REPO, issue(9, "status/routed", "priority/P0"))
    line.observe(REPO, issue(10, "status/triage", "priority/P0", state="closed"))
    assert [w.number for w in line.ordered()] == [4, 2, 1, 3, 7, 6, 5]
    line.observe(REPO, issue(4, "status/routed", "priority/P0"))  # routed: out of the line
    assert [w.number for w in line.ordered()] == [2, 1, 3, 7, 6, 5]


def test_several_repositories_share_one_line_and_a_full_listing_resets_one() -> None:
    line = WaitLine()
    line.observe("org/a", issue(5, "status/triage", "priority/P2", minutes=1))
    line.observe("org/b", issue(9, "status/triage", "priority/P2", minutes=0))
    line.observe("org/b", issue(3, "status/triage", "priority/P1", minutes=9))
    assert [(w.repo, w.number) for w in line.ordered()] == [("org/b", 3), ("org/b", 9), ("org/a", 5)]
    line.reset("org/b", [issue(9, "status/triage", "priority/P2", minutes=0)])
    assert [(w.repo, w.number) for w in line.ordered()] == [("org/b", 9), ("org/a", 5)]
    assert line.known == {"org/b"}
    assert line.place_text(Waiting("org/a", 5, "P2", T0 + timedelta(minutes=1))) == (
        "Waiting: 2nd of 2, behind org/b#9 (P2)."
    )


def test_the_place_text_and_the_gate() -> None:
    line = WaitLine(clock=lambda: (T0 + timedelta(minutes=60)).timestamp())
    for n, p in ((1, "P1"), (2, "P2"), (3, "P2"), (4, "P2"), (5, "P3")):
        line.observe(REPO, issue(n, "status/triage", f"priority/{p}", minutes=n))
    new = Waiting(REPO, 9, "P2", T0 + timedelta(minutes=30))
    assert line.place_text(new) == "Waiting: 5th of 6, behind #1 (P1), #2 (P2), #3 (P2) and 1 more."
    decision = RoutingDecision(chosen="ezra", candidates=(), runner_up="timmy", reason="Chose ezra.")
    gated = line.gate(new, decision)
    assert gated.chosen is None and gated.runner_up is None and "5th of 6" in gated.reason
    urgent = Waiting(REPO, 10, "P0", T0 + timedelta(minutes=30))
    assert line.gate(urgent, decision) == decision  # nothing of equal or higher priority waits: routed
    full = RoutingDecision(chosen=None, candidates=(), reason="Nobody chosen: no house is eligible.")
    assert line.gate(urgent, full).reason == (
        "Nobody chosen: no house is eligible. Waiting: 1st of 6, next to be routed when a house has room."
    )
    assert not line.blocked(urgent, free=1) and line.blocked(urgent, free=0) and line.blocked(new, free=3)
    summary = line.summary()
    assert summary["P2"] == (3, 58 * 60.0) and summary["P0"] == (0, 0.0) and summary["unknown"] == (0, 0.0)


def test_ordinals() -> None:
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 101, 111)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st", "111th",
    ]  # fmt: skip
