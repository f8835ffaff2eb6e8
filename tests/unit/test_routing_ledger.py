"""RoutingLedger over a real SQLite store: decisions with every candidate, outcomes, history per kind."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from uni_wizard.dispatch.config import RoutingWeights
from uni_wizard.dispatch.history import RoutingLedger
from uni_wizard.dispatch.routing import HouseHistory, route
from uni_wizard.dispatch.types import Candidate, IssueText, RoutingDecision
from uni_wizard.policy.model import HousePolicy
from uni_wizard.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(tmp_path / "state" / "uni-wizard.db")
    yield store
    store.close()


DECISION = RoutingDecision(
    chosen="bezalel",
    runner_up="ezra",
    reason="Chose bezalel, which matched crash: total 0.71 against ezra 0.38.",
    candidates=(
        Candidate("bezalel", 0.6, 0.6667, 1.0, 1.0, 0.7133, True, "matched crash"),
        Candidate("ezra", 0.0, 0.6667, 1.0, 1.0, 0.3833, True, ""),
        Candidate("allegro", 0.75, 0.6667, 1.0, 1.0, 0.7958, False, "may not take issues"),
    ),
)


def test_record_and_decisions_round_trip(store: Store) -> None:
    ledger = RoutingLedger(store, clock=lambda: 1_700_000_000.0)
    first = ledger.record("mesh/work", 7, "bug", DECISION, host="hub", epoch=3)
    nobody = RoutingDecision(chosen=None, candidates=(), reason="Nobody chosen: no house is configured.")
    second = ledger.record("mesh/work", 7, "bug", nobody, host="hub", epoch=4)
    ledger.record("mesh/work", 8, "docs", DECISION, host="hub", epoch=4)
    assert second > first
    rows = ledger.decisions("mesh/work", 7)
    assert [r["id"] for r in rows] == [first, second]
    row = rows[0]
    assert (row["repository"], row["number"], row["kind"], row["chosen"], row["runner_up"]) == (
        "mesh/work",
        7,
        "bug",
        "bezalel",
        "ezra",
    )
    assert (row["host"], row["epoch"], row["reason"]) == ("hub", 3, DECISION.reason)
    assert row["at"].startswith("2023-11-14T22:13:20")
    assert [Candidate(**c) for c in row["candidates"]] == list(DECISION.candidates)
    assert rows[1]["chosen"] is None and rows[1]["candidates"] == []
    assert ledger.decisions("mesh/work", 9) == []
    assert ledger.decisions("mesh/mesh", 7) == []


def test_outcomes_make_history_per_kind(store: Store) -> None:
    ledger = RoutingLedger(store)
    ledger.record_outcome("bezalel", "bug", "mesh/work", 1, success=True, duration=10.0)
    ledger.record_outcome("bezalel", "bug", "mesh/work", 2, success=False, duration=30.0)
    ledger.record_outcome("bezalel", "bug", "mesh/work", 3, success=True, duration=20.0)
    ledger.record_outcome("ezra", "bug", "mesh/work", 4, success=False, duration=5.0)
    ledger.record_outcome("ezra", "docs", "mesh/work", 5, success=True, duration=8.0)
    # recent_*: each newer outcome weighs the older ones by 0.8 (success, failure, success: 0.64 + 1 and 0.8)
    assert ledger.history("bug") == {
        "bezalel": HouseHistory(
            successes=2, attempts=3, mean_duration=20.0, recent_successes=1.64, recent_failures=0.8
        ),
        "ezra": HouseHistory(successes=0, attempts=1, mean_duration=5.0, recent_successes=0.0, recent_failures=1.0),
    }
    assert ledger.history("docs") == {"ezra": HouseHistory(1, 1, 8.0, 1.0, 0.0)}
    assert ledger.history("research") == {}


def test_history_survives_reopening_and_feeds_routing(tmp_path: Path) -> None:
    path = tmp_path / "uni-wizard.db"
    store = Store(path)
    ledger = RoutingLedger(store)
    for n in range(6):
        ledger.record_outcome("beta", "task", "mesh/work", n, success=True, duration=1.0)
        ledger.record_outcome("alpha", "task", "mesh/work", n, success=False, duration=1.0)
    store.close()
    reopened = Store(path)
    try:
        history = RoutingLedger(reopened).history("task")
        houses = {n: HousePolicy(name=n, role="r", gitea_user=n, keywords=("widget",)) for n in ("alpha", "beta")}
        issue = IssueText(1, "Polish the widget")
        weights = RoutingWeights()
        assert route(issue, "task", houses, history={}, load={}, weights=weights).chosen == "alpha"  # by name
        assert route(issue, "task", houses, history=history, load={}, weights=weights).chosen == "beta"
    finally:
        reopened.close()
