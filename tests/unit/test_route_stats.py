"""Routing statistics from a scripted history on a real store: the numbers per house and kind, the metrics
with bounded labels, and ``uni-wizard route stats`` / ``uni-wizard ledger`` through ``main(argv)``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from uni_wizard.cli import main
from uni_wizard.dispatch.bids import BidLedger
from uni_wizard.dispatch.history import RoutingLedger
from uni_wizard.dispatch.route_stats import RoutingStatsMetrics, routing_stats
from uni_wizard.dispatch.spend import SpendRecorder, TokenSpend
from uni_wizard.dispatch.types import Candidate, RoutingDecision
from uni_wizard.store import Store

RATES = {"bezalel": 1.0, "ezra": 1.0, "timmy": 2.0, "allegro": 1.0}
T0 = 1_765_000_000.0
ACTOR = "dispatcher@test-host"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def decide(chosen: str) -> RoutingDecision:
    """bezalel, ezra and timmy eligible; allegro never (it may not take issues)."""
    return RoutingDecision(
        chosen=chosen,
        candidates=tuple(Candidate(h, 0.1, 0.5, 1.0, 1.0, 0.5, h != "allegro") for h in sorted(RATES)),
    )


def script(store: Store) -> None:
    """Six issues: (kind, winner, what happened, minutes from routing to review)."""
    clock = Clock()
    ledger, bids = RoutingLedger(store, clock=clock), BidLedger(store, rates=RATES, clock=clock)

    def step(number: int, status: str, house: str, *, is_open: bool = True, minutes: float = 0) -> None:
        clock.now += minutes * 60
        bids.observe("mesh/app", number, status=status, house=house, is_open=is_open, actor=ACTOR)

    history = [
        (1, "bug", "bezalel", [("review", "bezalel", True, 30), ("done", "bezalel", False, 5)]),
        (2, "bug", "bezalel", [("review", "bezalel", True, 90), ("done", "bezalel", False, 5)]),
        (3, "bug", "bezalel", [("blocked", "bezalel", True, 1), ("in-progress", "bezalel", False, 1)]),  # failed
        (4, "bug", "bezalel", [("routed", "ezra", True, 1), ("review", "ezra", True, 20), ("done", "ezra", False, 1)]),
        (5, "docs", "ezra", [("done", "ezra", True, 10)]),  # an accepted report: no PR
        (6, "docs", "ezra", []),  # still open
    ]
    for number, kind, winner, steps in history:
        clock.now = T0 + number * 3600
        ledger.record("mesh/app", number, kind, decide(winner), host="test-host", epoch=1, rates=RATES)
        for status, house, is_open, minutes in steps:
            step(number, status, house, is_open=is_open, minutes=minutes)


def test_statistics_match_the_scripted_history(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    script(store)
    stats = {(s.house, s.kind): s for s in routing_stats(store)}
    bezalel = stats[("bezalel", "bug")]
    assert (bezalel.considered, bezalel.won, bezalel.settled, bezalel.void, bezalel.open) == (4, 4, 2, 2, 0)
    assert bezalel.win_rate == 1.0 and bezalel.completion_rate == 0.5
    assert bezalel.prs == 2 and bezalel.mean_time_to_pr == pytest.approx(60 * 60)  # (30 + 90) / 2 minutes
    ezra_bug = stats[("ezra", "bug")]  # four decisions as a candidate (lost all), then took #4 over
    assert (ezra_bug.considered, ezra_bug.won, ezra_bug.settled, ezra_bug.void) == (5, 1, 1, 0)
    assert ezra_bug.win_rate == pytest.approx(0.2) and ezra_bug.completion_rate == 1.0
    assert ezra_bug.mean_time_to_pr == pytest.approx(20 * 60)  # from the take-over to review
    ezra_docs = stats[("ezra", "docs")]
    assert (ezra_docs.considered, ezra_docs.won, ezra_docs.settled, ezra_docs.open) == (2, 2, 1, 1)
    assert ezra_docs.mean_time_to_pr is None and ezra_docs.completion_rate == 1.0
    timmy = stats[("timmy", "bug")]
    assert (timmy.considered, timmy.won, timmy.win_rate, timmy.completion_rate) == (4, 0, 0.0, None)
    allegro = stats[("allegro", "docs")]
    assert (allegro.considered, allegro.won, allegro.win_rate) == (0, 0, None)
    store.close()


def test_metrics_have_bounded_labels(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    script(store)
    RoutingLedger(store).record("mesh/app", 9, "weird-kind", decide("bezalel"), host="h", epoch=1, rates=RATES)
    registry = CollectorRegistry()
    RoutingStatsMetrics.for_registry(registry).watch(store, houses=("bezalel", "ezra"), kinds=("bug", "docs"))

    def value(name: str, house: str, kind: str) -> float | None:
        return registry.get_sample_value(name, {"house": house, "kind": kind})

    assert value("uniwizard_routing_won", "bezalel", "bug") == 4
    assert value("uniwizard_routing_win_ratio", "ezra", "bug") == pytest.approx(0.2)
    assert value("uniwizard_routing_completion_ratio", "bezalel", "bug") == 0.5
    assert value("uniwizard_routing_time_to_pr_seconds", "bezalel", "bug") == pytest.approx(3600)
    assert value("uniwizard_routing_considered", "bezalel", "other") == 1  # weird-kind folded
    assert value("uniwizard_routing_considered", "other", "bug") == 4  # timmy, not watched: folded
    assert value("uniwizard_routing_considered", "bezalel", "docs") == 2  # every configured pair present
    labels = {tuple(sorted(s.labels.items())) for m in registry.collect() for s in m.samples}
    assert {dict(k)["house"] for k in labels} <= {"bezalel", "ezra", "other"}
    assert {dict(k)["kind"] for k in labels} <= {"bug", "docs", "other"}
    store.close()


def test_spend_recorder_sums_tokens_per_house_and_provider(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    clock = Clock()
    spend = TokenSpend(store, clock=clock)
    record = SpendRecorder(spend, "bezalel")
    record("local", "qwen", 100, 10)
    record("local", "llama", 50, 5)
    record("local", "qwen", 0, 0)  # nothing reported: no call recorded
    clock.now += 86_400
    record("cloud", "big", 7, 3)
    SpendRecorder(spend, "ezra")("local", "qwen", 1, 1)
    days = {(s.period, s.house, s.provider): (s.calls, s.input_tokens, s.output_tokens) for s in spend.totals("day")}
    assert days == {
        ("2025-12-06", "bezalel", "local"): (2, 150, 15),
        ("2025-12-07", "bezalel", "cloud"): (1, 7, 3),
        ("2025-12-07", "ezra", "local"): (1, 1, 1),
    }
    assert [(s.period, s.house, s.provider, s.calls) for s in spend.totals("month")] == [
        ("2025-12", "bezalel", "cloud", 1),
        ("2025-12", "bezalel", "local", 2),
        ("2025-12", "ezra", "local", 1),
    ]
    store.close()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data_dir, workspace = tmp_path / "data", tmp_path / "ws"
    workspace.mkdir()
    monkeypatch.setenv("UNIWIZARD_DATA_DIR", str(data_dir))
    monkeypatch.setenv("UNIWIZARD_WORKSPACE", str(workspace))
    monkeypatch.setenv("UNIWIZARD_HOST", "test-host")
    return data_dir


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out + out.err


def test_route_stats_and_ledger_commands(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, "route", "stats")
    assert code == 0 and "no routing decision recorded yet" in out, out
    store = Store(data_dir / "uni-wizard.db")
    script(store)
    TokenSpend(store).add("bezalel", "local", "qwen", input_tokens=10, output_tokens=2)
    store.close()
    code, out = run(capsys, "route", "stats", "--json")
    assert code == 0, out
    rows = {(r["house"], r["kind"]): r for r in json.loads(out)["stats"]}
    assert (rows[("bezalel", "bug")]["won"], rows[("bezalel", "bug")]["completion_rate"]) == (4, 0.5)
    code, out = run(capsys, "route", "stats")
    assert code == 0 and "win rate" in out and "60.0 min" in out, out
    code, out = run(capsys, "route", "--explain", "stats")  # the literal text is still routable
    assert code == 0 and "title: stats" in out, out
    code, out = run(capsys, "ledger", "--period", "day", "--json")
    assert code == 0, out
    data = json.loads(out)
    settled = {(b["house"], b["settled"]) for b in data["balances"]}
    assert sum(n for _, n in settled) == 4 and {h for h, _ in settled} == {"bezalel", "ezra"}
    assert [(b["repository"], b["number"], b["house"]) for b in data["open"]] == [("mesh/app", 6, "ezra")]
    assert [(s["house"], s["input_tokens"]) for s in data["spend"]] == [("bezalel", 10)]
    code, out = run(capsys, "ledger")
    assert code == 0 and "balances (settled bids, by month):" in out and "open bids: 1" in out, out
    code, out = run(capsys, "ledger", "--period", "year")
    assert code == 2 and "not a period" in out, out
