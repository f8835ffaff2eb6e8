"""The ledger of bids: every house's bid on every routing decision, and the winner's settled when its work is done.

A routing decision writes one ``ledger_bids`` row per candidate (in the transaction that records the decision,
``RoutingLedger.record``): the winner's ``open``, every other one ``lost``. The amount is the house's
``bid_rate`` when it was routed, kept in thousandths so balances add up exactly. From ``open`` a bid moves once:

    lost                      (a candidate that did not win: terminal)
    open ──► settled          (the issue reached status/done with this house on it: merged PR or accepted report)
      └────► void             (routed again, re-assigned to another house, or closed before the work finished)

Each move is a compare-and-set (``UPDATE ... WHERE id = ? AND state = 'open'``) and a ``ledger_transitions``
row (from, to, actor, reason, time) in the same ``BEGIN IMMEDIATE`` transaction; a lost compare-and-set writes
nothing. At most one bid of an issue is open at a time (a unique partial index), so a settlement consumes it:
two settlements or a settlement and a re-assignment racing on one issue settle it at most once.

The dispatcher's sweep calls ``observe`` with each issue's state as the forge shows it (ARCHITECTURE.md,
"The ledger"). Accounting only: nothing is paid.

    >>> bids = BidLedger(store)
    >>> bids.observe("mesh/app", 7, status="done", house="bezalel", is_open=False, actor="dispatcher@vps-a")
    'settled'
    >>> bids.balances("month")
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from ..errors import TransitionRefused
from ..store import Store, utc_now
from .types import RoutingDecision

__all__ = ["PERIODS", "Balance", "Bid", "BidLedger", "BidState", "Period", "milli", "period_key"]

Period = Literal["day", "week", "month"]
PERIODS: tuple[Period, ...] = ("day", "week", "month")
UNFINISHED = ("triage", "routed", "in-progress", "blocked")  # a closed issue in one of these: its work never finished
WORKING = ("routed", "in-progress", "review")  # a house label on these names the house that has the issue


class BidState(StrEnum):
    LOST = "lost"
    OPEN = "open"
    SETTLED = "settled"
    VOID = "void"


def milli(rate: float) -> int:
    """A bid rate in thousandths (the ledger's unit: integer sums are exact)."""
    return round(rate * 1000)


def period_key(stamp: str, period: Period) -> str:
    """The period a store timestamp falls in: ``2026-12-08``, ``2026-W50`` (ISO week) or ``2026-12``."""
    moment = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    if period == "day":
        return moment.strftime("%Y-%m-%d")
    if period == "month":
        return moment.strftime("%Y-%m")
    year, week, _ = moment.isocalendar()
    return f"{year}-W{week:02d}"


@dataclass(frozen=True)
class Bid:
    id: int
    decision_id: int | None
    at: str
    repository: str
    number: int
    kind: str
    house: str
    amount_milli: int
    eligible: bool
    won: bool
    state: BidState
    pr_at: str | None
    updated_at: str

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Bid:
        return cls(
            id=row["id"], decision_id=row["decision_id"], at=row["at"], repository=row["repository"],
            number=row["number"], kind=row["kind"], house=row["house"], amount_milli=row["amount_milli"],
            eligible=bool(row["eligible"]), won=bool(row["won"]), state=BidState(row["state"]), pr_at=row["pr_at"],
            updated_at=row["updated_at"],
        )  # fmt: skip

    def as_dict(self) -> dict[str, Any]:
        return {**vars(self), "state": self.state.value, "amount": self.amount_milli / 1000}


@dataclass(frozen=True)
class Balance:
    """A house's settled bids in one period: how many and their sum (in thousandths; ``amount`` in units)."""

    period: str
    house: str
    settled: int
    amount_milli: int

    def as_dict(self) -> dict[str, Any]:
        return {"period": self.period, "house": self.house, "settled": self.settled, "amount": self.amount_milli / 1000}


class BidLedger:
    """The ``ledger_bids`` and ``ledger_transitions`` tables of ``store``. ``rates`` are the houses' bid rates now
    (a house the sweep finds on an issue without an open bid of its own opens one at its rate)."""

    def __init__(
        self, store: Store, *, rates: Mapping[str, float] | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.rates = dict(rates or {})
        self.clock = clock

    # -- writing a round of bids (inside the routing decision's transaction) -------------------------
    def open_round(
        self,
        db: sqlite3.Connection,
        decision_id: int,
        repository: str,
        number: int,
        kind: str,
        decision: RoutingDecision,
        rates: Mapping[str, float],
        *,
        actor: str,
    ) -> None:
        """Every candidate's bid on decision ``decision_id``; the issue's open bid (an earlier round) is void."""
        now = utc_now(self.clock)
        chosen = decision.chosen or "nobody"
        self._void_open(db, repository, number, actor, f"routed again (decision {decision_id}: {chosen})", now)
        for candidate in decision.candidates:
            won = candidate.house == decision.chosen
            state = BidState.OPEN if won else BidState.LOST
            amount = milli(rates.get(candidate.house, 0.0))
            bid_id = self._insert(
                db, decision_id, now, repository, number, kind, candidate.house, amount, candidate.eligible, won, state
            )
            if won:
                self._audit(db, bid_id, None, BidState.OPEN, actor, f"won decision {decision_id}", now)

    # -- the sweep ------------------------------------------------------------------------------------
    def observe(
        self, repository: str, number: int, *, status: str | None, house: str | None, is_open: bool, actor: str
    ) -> str | None:
        """Bring the issue's open bid in line with its state on the forge; what changed (None: nothing).

        ``status/done`` with ``house/<h>``: h's bid settles (another house's open bid is void first: h took the
        issue over). Routed, in progress or in review with another house than the open bid's: re-assigned.
        In review: the bid's ``pr_at`` is set (once). Closed while unfinished: void.
        """
        bid = self.open_bid(repository, number)
        if bid is None:
            return None
        if status == "done" and house:
            settled = self.settle(repository, number, house, actor=actor, reason="status/done")
            return "settled" if settled is not None else "void"
        if not is_open and status in UNFINISHED:
            self.void(repository, number, actor=actor, reason=f"closed at status/{status}: the work never finished")
            return "void"
        if is_open and status in WORKING and house and house != bid.house:
            self.reassign(repository, number, house, actor=actor, reason=f"house/{house} replaced house/{bid.house}")
            return "reassigned"
        if status == "review" and house == bid.house and bid.pr_at is None:
            return "pr" if self.mark_pr(bid.id) else None
        return None

    def settle(self, repository: str, number: int, house: str, *, actor: str, reason: str) -> Bid | None:
        """Settle ``house``'s open bid on the issue (opening one at its rate when another house's was open: that
        one is void, re-assigned); the settled bid, or None when nothing was open or ``house`` has no rate."""
        now = utc_now(self.clock)
        with self.store.transaction() as db:
            bid = self._open(db, repository, number)
            if bid is None:
                return None
            if bid.house != house:
                bid = self._take_over(db, bid, house, actor, f"finished by {house}", now)
                if bid is None:
                    return None
            self._move(db, bid.id, BidState.OPEN, BidState.SETTLED, actor, reason, now)
            return self._get(db, bid.id)

    def reassign(self, repository: str, number: int, house: str, *, actor: str, reason: str) -> Bid | None:
        """Void the issue's open bid and open one for ``house`` at its rate (None: nothing open, or no rate)."""
        now = utc_now(self.clock)
        with self.store.transaction() as db:
            bid = self._open(db, repository, number)
            if bid is None or bid.house == house:
                return bid
            return self._take_over(db, bid, house, actor, reason, now)

    def void(self, repository: str, number: int, *, actor: str, reason: str) -> bool:
        """Void the issue's open bid; whether there was one."""
        with self.store.transaction() as db:
            return self._void_open(db, repository, number, actor, reason, utc_now(self.clock))

    def mark_pr(self, bid_id: int) -> bool:
        """Note when the open bid's pull request was first seen (the issue in review); once."""
        with self.store.transaction() as db:
            cursor = db.execute(
                "UPDATE ledger_bids SET pr_at = ? WHERE id = ? AND state = 'open' AND pr_at IS NULL",
                (utc_now(self.clock), bid_id),
            )
        return cursor.rowcount == 1

    # -- reading --------------------------------------------------------------------------------------
    def open_bid(self, repository: str, number: int) -> Bid | None:
        return self._open(self.store.connection(), repository, number)

    def bids(self, repository: str, number: int) -> list[Bid]:
        """Every bid on the issue, oldest first."""
        rows = self.store.query(
            "SELECT * FROM ledger_bids WHERE repository = ? AND number = ? ORDER BY id", (repository, number)
        )
        return [Bid.from_row(row) for row in rows]

    def transitions(self, bid_id: int) -> list[dict[str, Any]]:
        rows = self.store.query("SELECT * FROM ledger_transitions WHERE bid_id = ? ORDER BY id", (bid_id,))
        return [dict(row) for row in rows]

    def settled(self) -> list[Bid]:
        """Every settled bid, in the order they settled."""
        rows = self.store.query("SELECT * FROM ledger_bids WHERE state = 'settled' ORDER BY updated_at, id")
        return [Bid.from_row(row) for row in rows]

    def balances(self, period: Period = "month") -> list[Balance]:
        """Per period (by when each bid settled) and house: the settled bids and their sum; newest period first."""
        totals: dict[tuple[str, str], tuple[int, int]] = {}
        for bid in self.settled():
            key = (period_key(bid.updated_at, period), bid.house)
            count, amount = totals.get(key, (0, 0))
            totals[key] = (count + 1, amount + bid.amount_milli)
        ordered = sorted(totals.items(), key=lambda item: (item[0][0], item[0][1]))
        ordered.sort(key=lambda item: item[0][0], reverse=True)
        return [Balance(p, h, n, amount) for (p, h), (n, amount) in ordered]

    def open_bids(self) -> list[Bid]:
        rows = self.store.query("SELECT * FROM ledger_bids WHERE state = 'open' ORDER BY id")
        return [Bid.from_row(row) for row in rows]

    # -- inside a transaction -------------------------------------------------------------------------
    @staticmethod
    def _get(db: sqlite3.Connection, bid_id: int) -> Bid:
        return Bid.from_row(db.execute("SELECT * FROM ledger_bids WHERE id = ?", (bid_id,)).fetchone())

    @staticmethod
    def _open(db: sqlite3.Connection, repository: str, number: int) -> Bid | None:
        row = db.execute(
            "SELECT * FROM ledger_bids WHERE repository = ? AND number = ? AND state = 'open'", (repository, number)
        ).fetchone()
        return None if row is None else Bid.from_row(row)

    @staticmethod
    def _insert(
        db: sqlite3.Connection,
        decision_id: int | None,
        now: str,
        repository: str,
        number: int,
        kind: str,
        house: str,
        amount: int,
        eligible: bool,
        won: bool,
        state: BidState,
    ) -> int:
        cursor = db.execute(
            "INSERT INTO ledger_bids (decision_id, at, repository, number, kind, house, amount_milli, eligible, won,"
            " state, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (decision_id, now, repository, number, kind, house, amount, int(eligible), int(won), state.value, now),
        )
        assert cursor.lastrowid is not None
        return int(cursor.lastrowid)

    def _take_over(self, db: sqlite3.Connection, bid: Bid, house: str, actor: str, reason: str, now: str) -> Bid | None:
        """``bid`` (open) void, and a new open bid of ``house`` on the same issue (None: ``house`` has no rate)."""
        self._move(db, bid.id, BidState.OPEN, BidState.VOID, actor, f"re-assigned to {house}: {reason}", now)
        if house not in self.rates:
            return None
        new_id = self._insert(
            db, None, now, bid.repository, bid.number, bid.kind, house, milli(self.rates[house]), True, True,
            BidState.OPEN,
        )  # fmt: skip
        self._audit(db, new_id, None, BidState.OPEN, actor, f"took the issue over from {bid.house}: {reason}", now)
        return self._get(db, new_id)

    def _void_open(
        self, db: sqlite3.Connection, repository: str, number: int, actor: str, reason: str, now: str
    ) -> bool:
        bid = self._open(db, repository, number)
        if bid is None:
            return False
        self._move(db, bid.id, BidState.OPEN, BidState.VOID, actor, reason, now)
        return True

    def _move(
        self,
        db: sqlite3.Connection,
        bid_id: int,
        current: BidState,
        wanted: BidState,
        actor: str,
        reason: str,
        now: str,
    ) -> None:
        cursor = db.execute(
            "UPDATE ledger_bids SET state = ?, updated_at = ? WHERE id = ? AND state = ?",
            (wanted.value, now, bid_id, current.value),
        )
        if cursor.rowcount != 1:  # cannot happen under BEGIN IMMEDIATE after _open; kept as the CAS guard
            raise TransitionRefused(f"bid {bid_id} is no longer {current.value}: it cannot become {wanted.value}")
        self._audit(db, bid_id, current, wanted, actor, reason, now)

    @staticmethod
    def _audit(
        db: sqlite3.Connection, bid_id: int, old: BidState | None, new: BidState, actor: str, reason: str, now: str
    ) -> None:
        db.execute(
            "INSERT INTO ledger_transitions (bid_id, from_state, to_state, actor, reason, at) VALUES (?,?,?,?,?,?)",
            (bid_id, old.value if old else None, new.value, actor, reason, now),
        )
