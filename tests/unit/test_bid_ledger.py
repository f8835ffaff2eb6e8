"""The ledger of bids over a real SQLite store: rounds, settlement, re-assignment, void, balances, and races
between threads and between processes on one store file that never settle an issue twice."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from uni_wizard.dispatch.bids import BidLedger, BidState, period_key
from uni_wizard.dispatch.history import RoutingLedger
from uni_wizard.dispatch.types import Candidate, RoutingDecision
from uni_wizard.store import Store

RATES = {"bezalel": 1.0, "ezra": 1.25, "timmy": 2.0}
ACTOR = "dispatcher@hub"
T0 = 1_765_000_000.0  # 2025-12-06T05:46:40Z


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(tmp_path / "state" / "uni-wizard.db")
    yield store
    store.close()


def decision(chosen: str | None) -> RoutingDecision:
    houses = sorted(RATES)
    cands = tuple(Candidate(h, 0.5, 0.6, 1.0, 1.0, 0.9 if h == chosen else 0.4, h != "timmy") for h in houses)
    return RoutingDecision(chosen=chosen, candidates=cands)


def route_to(store: Store, number: int, house: str | None, *, kind: str = "bug", clock: float = T0) -> int:
    ledger = RoutingLedger(store, clock=lambda: clock)
    return ledger.record("mesh/app", number, kind, decision(house), host="hub", epoch=1, rates=RATES)


def test_a_decision_writes_every_bid_and_opens_the_winners(store: Store) -> None:
    decision_id = route_to(store, 7, "bezalel")
    bids = BidLedger(store).bids("mesh/app", 7)
    assert [(b.house, b.state, b.won, b.eligible, b.amount_milli) for b in bids] == [
        ("bezalel", BidState.OPEN, True, True, 1000),
        ("ezra", BidState.LOST, False, True, 1250),
        ("timmy", BidState.LOST, False, False, 2000),
    ]
    assert {b.decision_id for b in bids} == {decision_id}
    opened = BidLedger(store).transitions(bids[0].id)
    assert [(t["from_state"], t["to_state"], t["actor"]) for t in opened] == [(None, "open", ACTOR)]


def test_status_done_settles_the_winner_once(store: Store) -> None:
    route_to(store, 7, "ezra")
    bids = BidLedger(store, rates=RATES, clock=lambda: T0 + 60)
    assert bids.observe("mesh/app", 7, status="routed", house="ezra", is_open=True, actor=ACTOR) is None
    assert bids.observe("mesh/app", 7, status="done", house="ezra", is_open=True, actor=ACTOR) == "settled"
    assert bids.observe("mesh/app", 7, status="done", house="ezra", is_open=False, actor=ACTOR) is None
    [settled] = bids.settled()
    assert (settled.house, settled.amount_milli) == ("ezra", 1250)
    history = bids.transitions(settled.id)
    assert [(t["from_state"], t["to_state"], t["reason"]) for t in history][-1] == ("open", "settled", "status/done")


def test_failed_work_and_an_unfinished_close_never_settle(store: Store) -> None:
    route_to(store, 1, "bezalel")
    route_to(store, 2, "bezalel")
    bids = BidLedger(store, rates=RATES)
    assert bids.observe("mesh/app", 1, status="blocked", house="bezalel", is_open=True, actor=ACTOR) is None
    assert bids.open_bid("mesh/app", 1) is not None  # blocked: it may be retried, it is not done
    assert bids.observe("mesh/app", 2, status="in-progress", house="bezalel", is_open=False, actor=ACTOR) == "void"
    assert bids.observe("mesh/app", 2, status="done", house="bezalel", is_open=False, actor=ACTOR) is None
    route_to(store, 1, "ezra")  # /retry: triaged and routed again; the blocked attempt's bid is void
    assert [(b.house, b.state) for b in bids.bids("mesh/app", 1) if b.won] == [
        ("bezalel", BidState.VOID),
        ("ezra", BidState.OPEN),
    ]
    assert bids.settled() == []
    assert bids.balances() == []


def test_a_reassigned_issue_settles_for_the_house_that_finished_it_only(store: Store) -> None:
    route_to(store, 7, "bezalel")
    bids = BidLedger(store, rates=RATES)
    # /route ezra: the sweep sees house/ezra on a routed issue whose open bid is bezalel's
    assert bids.observe("mesh/app", 7, status="routed", house="ezra", is_open=True, actor=ACTOR) == "reassigned"
    assert bids.observe("mesh/app", 7, status="review", house="ezra", is_open=True, actor=ACTOR) == "pr"
    assert bids.observe("mesh/app", 7, status="done", house="ezra", is_open=False, actor=ACTOR) == "settled"
    won = [(b.house, b.state, b.decision_id is None) for b in bids.bids("mesh/app", 7) if b.won]
    assert won == [("bezalel", BidState.VOID, False), ("ezra", BidState.SETTLED, True)]
    assert [(b.house, b.amount_milli) for b in bids.settled()] == [("ezra", 1250)]


def test_done_under_another_house_than_the_open_bid_settles_the_finisher(store: Store) -> None:
    """The label changed and the issue finished between two sweeps: the finisher's bid, not the first winner's."""
    route_to(store, 7, "bezalel")
    bids = BidLedger(store, rates=RATES)
    assert bids.observe("mesh/app", 7, status="done", house="timmy", is_open=False, actor=ACTOR) == "settled"
    assert [(b.house, b.amount_milli) for b in bids.settled()] == [("timmy", 2000)]
    assert [b.state for b in bids.bids("mesh/app", 7) if b.house == "bezalel" and b.won] == [BidState.VOID]
    # a house with no rate (not configured here) finishing: the open bid is void, nothing settles
    route_to(store, 8, "bezalel")
    assert bids.observe("mesh/app", 8, status="done", house="stranger", is_open=False, actor=ACTOR) == "void"
    assert len(bids.settled()) == 1


def test_balances_are_the_sum_of_settled_rows_per_period(store: Store) -> None:
    days = [T0, T0 + 86_400, T0 + 86_400 * 9, T0 + 86_400 * 40]
    houses = ["bezalel", "ezra", "bezalel", "ezra"]
    for number, (day, house) in enumerate(zip(days, houses, strict=True), start=1):
        route_to(store, number, house, clock=day)
        BidLedger(store, rates=RATES, clock=lambda d=day: d + 10).settle(
            "mesh/app", number, house, actor=ACTOR, reason="status/done"
        )
    route_to(store, 99, "ezra")  # open: counts nowhere
    bids = BidLedger(store, rates=RATES)
    raw = store.query("SELECT house, amount_milli, updated_at FROM ledger_bids WHERE state = 'settled'")
    for period in ("day", "week", "month"):
        balances = bids.balances(period)
        expected: dict[tuple[str, str], int] = {}
        for row in raw:
            key = (period_key(row["updated_at"], period), row["house"])
            expected[key] = expected.get(key, 0) + row["amount_milli"]
        assert {(b.period, b.house): b.amount_milli for b in balances} == expected
        assert sum(b.settled for b in balances) == 4
    assert [(b.period, b.house, b.amount_milli) for b in bids.balances("month")] == [
        ("2026-01", "ezra", 1250),
        ("2025-12", "bezalel", 2000),
        ("2025-12", "ezra", 1250),
    ]
    assert period_key("2025-12-29T00:00:00.000000Z", "week") == "2026-W01"  # ISO week of the new year


def test_one_open_bid_per_issue_is_enforced_by_the_store(store: Store) -> None:
    route_to(store, 7, "bezalel")
    with pytest.raises(sqlite3.IntegrityError), store.transaction() as db:
        db.execute(
            "INSERT INTO ledger_bids (at, repository, number, kind, house, amount_milli, eligible, won, state,"
            " updated_at) VALUES ('x', 'mesh/app', 7, 'bug', 'ezra', 1, 1, 1, 'open', 'x')"
        )


def _race(store: Store, number: int, worker: int) -> str | None:
    bids = BidLedger(store, rates=RATES)
    if worker % 3 == 0:
        return bids.observe("mesh/app", number, status="routed", house="ezra", is_open=True, actor=f"t{worker}")
    house = "bezalel" if worker % 3 == 1 else "ezra"
    return bids.observe("mesh/app", number, status="done", house=house, is_open=False, actor=f"t{worker}")


def _assert_settled_once(store: Store, numbers: range) -> None:
    bids = BidLedger(store, rates=RATES)
    for number in numbers:
        won = [b for b in bids.bids("mesh/app", number) if b.won]
        assert [b.state for b in won].count(BidState.SETTLED) == 1, won
        assert all(b.state is BidState.VOID for b in won if b.state is not BidState.SETTLED)
        for bid in won:  # every move of every bid has its audit row, and no bid moved twice out of open
            moves = [t["from_state"] for t in bids.transitions(bid.id)]
            assert moves.count("open") == (0 if bid.state is BidState.OPEN else 1)
    total = sum(b.amount_milli for b in bids.balances("day"))
    assert total == sum(b.amount_milli for b in bids.settled())
    assert len(bids.settled()) == len(numbers)


def test_threads_racing_settlements_and_reassignments_settle_each_issue_once(store: Store) -> None:
    numbers = range(1, 21)
    for number in numbers:
        route_to(store, number, "bezalel")
    barrier = threading.Barrier(6)
    results: list[str | None] = []
    lock = threading.Lock()

    def run(worker: int) -> None:
        barrier.wait()
        for number in numbers:
            outcome = _race(store, number, worker)
            with lock:
                results.append(outcome)

    threads = [threading.Thread(target=run, args=(w,)) for w in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count("settled") == len(numbers)
    _assert_settled_once(store, numbers)


def _process_worker(path: str, worker: int, numbers: list[int]) -> list[str | None]:
    store = Store(Path(path), busy_timeout_ms=30_000)
    try:
        return [_race(store, number, worker) for number in numbers]
    finally:
        store.close()


def test_processes_racing_on_one_store_file_settle_each_issue_once(store: Store) -> None:
    numbers = list(range(1, 13))
    for number in numbers:
        route_to(store, number, "bezalel")
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(4, mp_context=spawn) as pool:
        futures = [pool.submit(_process_worker, str(store.path), w, numbers) for w in range(4)]
        outcomes = [o for f in futures for o in f.result(timeout=120)]
    assert outcomes.count("settled") == len(numbers)
    _assert_settled_once(store, range(1, 13))
