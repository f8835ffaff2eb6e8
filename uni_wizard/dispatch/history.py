"""``RoutingLedger``: routing decisions and house outcomes in the store (migrations 3 and 5).

``routing_decisions`` keeps every decision with all its candidates and their parts, so a routing can be
explained later; ``house_outcomes`` is what ``route`` learns from (``history(kind)``): the attempts
finished on this host (``record_outcome``, ``origin_host`` '') and those finished on other hosts, imported
from their ``house.outcome`` telemetry events (``import_outcome``, keyed by the peer's host and ``seq``,
so a line read twice is imported once).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from ..errors import EventRejected
from ..intelligence.model import Evidence, fold
from ..store import Store, utc_now, utc_text
from .bids import BidLedger
from .routing import HouseHistory
from .types import RoutingDecision

__all__ = ["OUTCOMES", "RoutingLedger", "outcome_data"]

OUTCOMES = ("success", "failure")
MAX_NAME_CHARS = 256  # a house, a kind, a repository or a host
KIND_DECAY = 0.8  # each newer outcome of a house on a kind weighs its older ones by this (see ARCHITECTURE)


def outcome_data(
    house: str, kind: str, repository: str, number: int, *, success: bool, duration: float
) -> dict[str, Any]:
    """The data of a ``house.outcome`` event: what ``import_outcome`` takes on the other hosts."""
    outcome = OUTCOMES[0] if success else OUTCOMES[1]
    return {"house": house, "kind": kind, "repository": repository, "number": number, "outcome": outcome,
            "duration": duration}  # fmt: skip


def _name(data: Mapping[str, Any], field: str) -> str:
    value = data.get(field)
    if not isinstance(value, str) or not value or len(value) > MAX_NAME_CHARS:
        raise EventRejected(f"{field} is a non-empty string of at most {MAX_NAME_CHARS} characters, not {value!r:.80}")
    return value


def _checked(data: Mapping[str, Any]) -> tuple[str, str, str, int, str, float]:
    """(house, kind, repository, number, outcome, duration) of ``house.outcome`` data, or ``EventRejected``."""
    if not isinstance(data, Mapping):
        raise EventRejected(f"house.outcome data is a mapping, not {type(data).__name__}")
    house, kind, repository = _name(data, "house"), _name(data, "kind"), _name(data, "repository")
    number, outcome, duration = data.get("number"), data.get("outcome"), data.get("duration")
    if isinstance(number, bool) or not isinstance(number, int) or number < 0:
        raise EventRejected(f"number is an issue number (an integer >= 0), not {number!r:.80}")
    if outcome not in OUTCOMES:
        raise EventRejected(f"outcome is one of {', '.join(OUTCOMES)}, not {outcome!r:.80}")
    if isinstance(duration, bool) or not isinstance(duration, int | float) or not math.isfinite(duration):
        raise EventRejected(f"duration is a number of seconds, not {duration!r:.80}")
    if duration < 0:
        raise EventRejected(f"duration is not negative, not {duration!r:.80}")
    return house, kind, repository, number, outcome, float(duration)


def _stamp(at: str | None) -> str | None:
    """``at`` in the store's one timestamp format, or None when it is not a timestamp in it."""
    try:
        return utc_text(datetime.strptime(at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)) if at else None
    except (TypeError, ValueError):
        return None


class RoutingLedger:
    """The routing tables of ``store``; ``host`` is this host's name (its own events are never imported)."""

    def __init__(self, store: Store, *, host: str | None = None, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.host = host
        self.clock = clock

    def record(
        self,
        repository: str,
        number: int,
        kind: str,
        decision: RoutingDecision,
        *,
        host: str,
        epoch: int,
        rates: Mapping[str, float] | None = None,
    ) -> int:
        """Store one decision (every candidate with its parts as JSON); return its id. With ``rates`` (the houses'
        bid rates), every candidate's bid too, in the same transaction (``bids.py``: the ledger)."""
        candidates = json.dumps([asdict(c) for c in decision.candidates], sort_keys=True)
        with self.store.transaction() as db:
            cursor = db.execute(
                "INSERT INTO routing_decisions (at, repository, number, kind, chosen, runner_up, host, epoch,"
                " reason, candidates_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    utc_now(self.clock),
                    repository,
                    number,
                    kind,
                    decision.chosen,
                    decision.runner_up,
                    host,
                    epoch,
                    decision.reason,
                    candidates,
                ),
            )
            row_id = cursor.lastrowid
            assert row_id is not None
            if rates is not None:
                bids = BidLedger(self.store, clock=self.clock)
                bids.open_round(db, row_id, repository, number, kind, decision, rates, actor=f"dispatcher@{host}")
        return row_id

    def decisions(self, repository: str, number: int) -> list[dict[str, Any]]:
        """Every decision recorded for one issue, oldest first, with ``candidates`` parsed."""
        rows = self.store.query(
            "SELECT * FROM routing_decisions WHERE repository = ? AND number = ? ORDER BY id", (repository, number)
        )
        out = []
        for row in rows:
            item = dict(row)
            item["candidates"] = json.loads(item.pop("candidates_json"))
            out.append(item)
        return out

    def record_outcome(
        self, house: str, kind: str, repository: str, number: int, *, success: bool, duration: float
    ) -> None:
        """One finished attempt of ``house`` on an issue of ``kind`` (success: merged or done)."""
        with self.store.transaction() as db:
            db.execute(
                "INSERT INTO house_outcomes (at, house, kind, repository, number, outcome, duration)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (utc_now(self.clock), house, kind, repository, number, "success" if success else "failure", duration),
            )

    def import_outcome(self, host: str, seq: int, data: Mapping[str, Any], *, at: str | None = None) -> bool:
        """One ``house.outcome`` event of another host (``seq`` there); whether a row was written.

        Nothing is written for this host's own events (``record_outcome`` has them already) or for an
        event imported before (same host and ``seq``: a re-read file, a duplicate line). ``EventRejected``
        (nothing written) for bad data; ``at`` is when the peer logged it (in the store's format; otherwise,
        or by default, now).
        """
        if self.host is None:
            raise EventRejected("importing outcomes needs this host's name (RoutingLedger(store, host=...))")
        if not isinstance(host, str) or not host or len(host) > MAX_NAME_CHARS:
            raise EventRejected(f"an outcome's host is a non-empty string, not {host!r:.80}")
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
            raise EventRejected(f"an outcome's seq is a positive integer, not {seq!r:.80}")
        house, kind, repository, number, outcome, duration = _checked(data)
        if host == self.host:
            return False
        when = _stamp(at) or utc_now(self.clock)
        with self.store.transaction() as db:
            cursor = db.execute(
                "INSERT INTO house_outcomes (at, house, kind, repository, number, outcome, duration, origin_host,"
                " origin_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (origin_host, origin_seq) DO NOTHING",
                (when, house, kind, repository, number, outcome, duration, host, seq),
            )
            return cursor.rowcount == 1

    def origins(self, kind: str) -> dict[str, dict[str, int]]:
        """Per house: attempts on issues of ``kind`` by the host they finished on ('' for this one)."""
        rows = self.store.query(
            "SELECT house, origin_host, count(*) AS attempts FROM house_outcomes WHERE kind = ?"
            " GROUP BY house, origin_host ORDER BY house, origin_host",
            (kind,),
        )
        out: dict[str, dict[str, int]] = {}
        for row in rows:
            out.setdefault(row["house"], {})[row["origin_host"]] = int(row["attempts"])
        return out

    def history(self, kind: str) -> dict[str, HouseHistory]:
        """Per house: successes, attempts and mean duration on issues of ``kind``, over every host's outcomes,
        with the counts decayed by ``KIND_DECAY`` per newer outcome (in the order they finished) for routing's
        predicted success."""
        rows = self.store.query(
            "SELECT house, outcome, duration FROM house_outcomes WHERE kind = ? ORDER BY at, id", (kind,)
        )
        evidence: dict[str, Evidence] = {}
        totals: dict[str, tuple[int, float]] = {}
        for row in rows:
            house, ok = row["house"], row["outcome"] == "success"
            evidence[house] = fold(evidence.get(house) or Evidence(), ok=ok, duration=0.0, decay=KIND_DECAY)
            wins, duration = totals.get(house, (0, 0.0))
            totals[house] = (wins + int(ok), duration + float(row["duration"]))
        return {
            house: HouseHistory(
                successes=totals[house][0],
                attempts=ev.samples,
                mean_duration=totals[house][1] / ev.samples,
                recent_successes=round(ev.successes, 6),
                recent_failures=round(ev.failures, 6),
            )
            for house, ev in sorted(evidence.items())
        }
