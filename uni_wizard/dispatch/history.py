"""``RoutingLedger``: routing decisions and house outcomes in the store (migration 3).

``routing_decisions`` keeps every decision with all its candidates and their parts, so a routing can be
explained later; ``house_outcomes`` is what ``route`` learns from (``history(kind)``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from ..store import Store, utc_now
from .routing import HouseHistory
from .types import RoutingDecision

__all__ = ["RoutingLedger"]


class RoutingLedger:
    def __init__(self, store: Store, *, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    def record(
        self, repository: str, number: int, kind: str, decision: RoutingDecision, *, host: str, epoch: int
    ) -> int:
        """Store one decision (every candidate with its parts as JSON); return its id."""
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

    def history(self, kind: str) -> dict[str, HouseHistory]:
        """Per house: successes, attempts and mean duration on issues of ``kind``."""
        rows = self.store.query(
            "SELECT house, sum(outcome = 'success') AS successes, count(*) AS attempts, avg(duration) AS mean"
            " FROM house_outcomes WHERE kind = ? GROUP BY house ORDER BY house",
            (kind,),
        )
        return {
            row["house"]: HouseHistory(
                successes=int(row["successes"]),
                attempts=int(row["attempts"]),
                mean_duration=None if row["mean"] is None else float(row["mean"]),
            )
            for row in rows
        }
