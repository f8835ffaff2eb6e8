"""Token spend per house, provider and model, beside the bids (``ledger_spend``): one row per day and model.

The cascade tells each finished answer to its listeners (``Cascade.listeners``); the composition root gives a
house's cascade a ``SpendRecorder`` for that house (``assembly/worker.py``, ``assembly/dispatcher.py``), so the
tokens a provider reported are added to the day's row of (house, provider, model). Accounting only.

    >>> spend = TokenSpend(store)
    >>> spend.add("bezalel", "local", "qwen2.5:7b", input_tokens=812, output_tokens=95)
    >>> spend.totals("week")
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import StoreError
from ..store import Store, utc_now
from .bids import Period, period_key

__all__ = ["Spend", "SpendRecorder", "TokenSpend"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Spend:
    """The tokens of one house on one provider in one period."""

    period: str
    house: str
    provider: str
    calls: int
    input_tokens: int
    output_tokens: int

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


class TokenSpend:
    """The ``ledger_spend`` table of ``store``."""

    def __init__(self, store: Store, *, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    def add(self, house: str, provider: str, model: str, *, input_tokens: int, output_tokens: int) -> None:
        """One answer's tokens, added to today's row (UTC) of (house, provider, model)."""
        day = utc_now(self.clock)[:10]
        with self.store.transaction() as db:
            db.execute(
                "INSERT INTO ledger_spend VALUES (?, ?, ?, ?, 1, ?, ?) ON CONFLICT (day, house, provider, model)"
                " DO UPDATE SET calls = calls + 1, input_tokens = input_tokens + excluded.input_tokens,"
                " output_tokens = output_tokens + excluded.output_tokens",
                (day, house, provider, model, max(0, input_tokens), max(0, output_tokens)),
            )

    def totals(self, period: Period = "month") -> list[Spend]:
        """Per period, house and provider (models summed): newest period first."""
        sums: dict[tuple[str, str, str], tuple[int, int, int]] = {}
        for row in self.store.query("SELECT * FROM ledger_spend"):
            key = (period_key(f"{row['day']}T00:00:00.000000Z", period), row["house"], row["provider"])
            calls, given, taken = sums.get(key, (0, 0, 0))
            sums[key] = (calls + row["calls"], given + row["input_tokens"], taken + row["output_tokens"])
        ordered = sorted(sums.items(), key=lambda item: item[0][1:])
        ordered.sort(key=lambda item: item[0][0], reverse=True)
        return [Spend(p, h, prov, *counts) for (p, h, prov), counts in ordered]


class SpendRecorder:
    """A cascade listener recording each answer's tokens for ``house``; a store failure is logged, never raised
    into the answer (the spend is accounting, the answer is the work)."""

    def __init__(self, spend: TokenSpend, house: str) -> None:
        self.spend = spend
        self.house = house

    def __call__(self, provider: str, model: str, input_tokens: int, output_tokens: int) -> None:
        if not input_tokens and not output_tokens:
            return
        try:
            self.spend.add(self.house, provider, model, input_tokens=input_tokens, output_tokens=output_tokens)
        except StoreError as exc:
            log.warning("cannot record %s's tokens on %s: %s", self.house, provider, exc)
