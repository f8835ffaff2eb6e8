"""route(): table-driven from routing_cases.yaml over the shipped houses, plus ties, parts and the table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from uni_wizard.config import default_houses_dir
from uni_wizard.dispatch.config import RoutingWeights, TriageConfig, load_triage_config
from uni_wizard.dispatch.routing import HouseHistory, format_table, route
from uni_wizard.dispatch.triage import triage
from uni_wizard.dispatch.types import IssueText, RoutingDecision
from uni_wizard.policy.loader import load_houses
from uni_wizard.policy.model import HousePolicy

CASES: list[dict[str, Any]] = yaml.safe_load((Path(__file__).parent / "routing_cases.yaml").read_text())


@pytest.fixture(scope="module")
def config() -> TriageConfig:
    return load_triage_config()


@pytest.fixture(scope="module")
def houses() -> dict[str, HousePolicy]:
    return load_houses(default_houses_dir())


def _route(case: dict[str, Any], config: TriageConfig, houses: dict[str, HousePolicy]) -> RoutingDecision:
    issue = IssueText(1, case["title"], case.get("body", ""))
    kind = case.get("kind") or triage(issue, config).kind
    history = {house: HouseHistory(s, a) for house, (s, a) in case.get("history", {}).items()}
    return route(issue, kind, houses, history=history, load=case.get("load", {}), weights=config.routing)


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_routing_case(case: dict[str, Any], config: TriageConfig, houses: dict[str, HousePolicy]) -> None:
    decision = _route(case, config, houses)
    expect = case["expect"]
    by_house = {c.house: c for c in decision.candidates}
    table = format_table(decision)
    assert decision.chosen == expect["chosen"], table
    if "runner_up" in expect:
        assert decision.runner_up == expect["runner_up"], table
    assert set(by_house) == set(houses)  # every house is a candidate, eligible or not
    for house, why in expect.get("ineligible", {}).items():
        assert not by_house[house].eligible and why in by_house[house].why, table
        assert decision.chosen != house and decision.runner_up != house
    for house in expect.get("zero_text", []):
        assert by_house[house].text == 0, table
    if "best_text" in expect:
        assert max(decision.candidates, key=lambda c: c.text).house == expect["best_text"], table
    if "reason" in expect:
        assert expect["reason"] in decision.reason
    assert decision.reason.endswith(".")
    for c in decision.candidates:
        assert all(0.0 <= part <= 1.0 for part in (c.text, c.history, c.load, c.bid, c.total))


def test_allegro_is_never_chosen(config: TriageConfig, houses: dict[str, HousePolicy]) -> None:
    for case in CASES:
        decision = _route(case, config, houses)
        assert "allegro" not in (decision.chosen, decision.runner_up)


def test_candidates_are_sorted_eligible_first_then_best_total(
    config: TriageConfig, houses: dict[str, HousePolicy]
) -> None:
    decision = _route({"title": "Triage the failover alerts"}, config, houses)
    flags = [c.eligible for c in decision.candidates]
    assert flags == sorted(flags, reverse=True)
    eligible = [c.total for c in decision.candidates if c.eligible]
    assert eligible == sorted(eligible, reverse=True)


def test_the_parts(config: TriageConfig, houses: dict[str, HousePolicy]) -> None:
    weights = config.routing
    issue = IssueText(1, "The daemon crashes on startup")
    history = {"bezalel": HouseHistory(successes=3, attempts=7, mean_duration=120.0)}
    decision = route(issue, "bug", houses, history=history, load={"bezalel": 1}, weights=weights)
    bezalel = next(c for c in decision.candidates if c.house == "bezalel")
    timmy = next(c for c in decision.candidates if c.house == "timmy")
    # text: "crash" in the title (2) + the kind "bug" (1) = 3 → 3 / (3 + 2)
    assert bezalel.text == pytest.approx(0.6)
    assert bezalel.history == pytest.approx((3 + 2) / (7 + 3), abs=1e-4)
    assert timmy.history == pytest.approx(2 / 3, abs=1e-4)  # the prior
    assert bezalel.load == pytest.approx(0.5)
    assert bezalel.bid == 1.0 and timmy.bid == 0.5  # timmy's bid_rate is 2.0, the cheapest 1.0
    expected = 0.55 * 0.6 + 0.2 * 0.5 + 0.15 * 0.5 + 0.1 * 1.0
    assert bezalel.total == pytest.approx(expected, abs=1e-4)
    assert "crash" in bezalel.why and "kind bug" in bezalel.why


def test_weights_are_a_mean_so_totals_stay_in_range(houses: dict[str, HousePolicy]) -> None:
    doubled = RoutingWeights(text=1.1, history=0.4, load=0.3, bid=0.2)
    issue = IssueText(1, "The daemon crashes on startup")
    one = route(issue, "bug", houses, history={}, load={}, weights=RoutingWeights())
    two = route(issue, "bug", houses, history={}, load={}, weights=doubled)
    assert [(c.house, c.total) for c in one.candidates] == [(c.house, c.total) for c in two.candidates]


def _house(name: str, keywords: tuple[str, ...] = ("widget",), **extra: Any) -> HousePolicy:
    return HousePolicy(name=name, role="test", gitea_user=name, keywords=keywords, **extra)


def test_ties_are_broken_by_name_whatever_the_order() -> None:
    issue = IssueText(1, "Polish the widget")
    forward = {n: _house(n) for n in ("mmm", "aaa", "zzz")}
    backward = dict(reversed(list(forward.items())))
    for houses in (forward, backward):
        decision = route(issue, "task", houses, history={}, load={}, weights=RoutingWeights())
        assert (decision.chosen, decision.runner_up) == ("aaa", "mmm")
        assert [c.house for c in decision.candidates] == ["aaa", "mmm", "zzz"]
        assert "tie broken by name" in decision.reason


def test_a_free_house_has_the_best_bid() -> None:
    houses = {"paid": _house("paid", bid_rate=1.0), "free": _house("free", bid_rate=0.0)}
    decision = route(IssueText(1, "the widget"), "task", houses, history={}, load={}, weights=RoutingWeights())
    bids = {c.house: c.bid for c in decision.candidates}
    assert bids == {"free": 1.0, "paid": 0.0}
    assert decision.chosen == "free"


def test_no_houses() -> None:
    decision = route(IssueText(1, "x"), "task", {}, history={}, load={}, weights=RoutingWeights())
    assert decision.chosen is None and decision.candidates == () and "no house is configured" in decision.reason


def test_format_table(config: TriageConfig, houses: dict[str, HousePolicy]) -> None:
    decision = _route({"title": "The daemon crashes on startup"}, config, houses)
    table = format_table(decision)
    lines = table.splitlines()
    assert lines[0].split() == ["house", "text", "history", "load", "bid", "total", "eligible"]
    assert len(lines) == 1 + len(houses)
    assert lines[1].startswith("bezalel ") and "chosen (matched crash, kind bug)" in lines[1]
    assert "runner-up" in lines[2]
    allegro = next(line for line in lines if line.startswith("allegro"))
    assert "no: may not take issues" in allegro
    assert all(line == line.rstrip() for line in lines)


def test_a_cheaper_house_that_takes_no_issues_does_not_set_the_scale() -> None:
    no_issues = {"rules": {"may_take_issues": False}}
    houses = {
        "dispatch": HousePolicy.model_validate({**_house("dispatch").model_dump(), "bid_rate": 0.5, **no_issues}),
        "worker": _house("worker", bid_rate=1.0),
    }
    decision = route(IssueText(1, "the widget"), "task", houses, history={}, load={}, weights=RoutingWeights())
    bids = {c.house: c.bid for c in decision.candidates}
    assert bids == {"dispatch": 1.0, "worker": 1.0}
    assert decision.chosen == "worker" and decision.runner_up is None
    assert "no other house is eligible" in decision.reason
