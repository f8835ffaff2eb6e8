"""Routing statistics per house and kind (seed 004's agent stats), read from the ledger of bids.

- **considered**: the decisions on which the house was an eligible candidate (a take-over counts as one);
- **won**: those it won; **win rate** = won / considered;
- **completion rate** = settled / (settled + void): of the bids it won that have ended, the share whose work was
  done (open bids are not counted yet);
- **mean time to PR**: from the winning decision to the issue first seen in review, over the bids that got there.

``RoutingStatsMetrics`` exports them at scrape time with bounded labels: ``house`` a configured house (any
other name is ``other``) and ``kind`` a configured kind (``other`` likewise).

    >>> stats = routing_stats(store)
    >>> RoutingStatsMetrics.for_registry(registry).watch(store, houses=("bezalel", "ezra"), kinds=("bug", "task"))
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ..errors import StoreError
from ..metricset import MetricSet
from ..store import Store

__all__ = ["OTHER", "RouteStat", "RoutingStatsCollector", "RoutingStatsMetrics", "routing_stats"]

log = logging.getLogger(__name__)

OTHER = "other"


@dataclass(frozen=True)
class RouteStat:
    house: str
    kind: str
    considered: int = 0
    won: int = 0
    settled: int = 0
    void: int = 0
    open: int = 0
    prs: int = 0
    pr_seconds: float = 0.0  # the sum over ``prs``

    @property
    def win_rate(self) -> float | None:
        return self.won / self.considered if self.considered else None

    @property
    def completion_rate(self) -> float | None:
        ended = self.settled + self.void
        return self.settled / ended if ended else None

    @property
    def mean_time_to_pr(self) -> float | None:
        return self.pr_seconds / self.prs if self.prs else None

    def merged(self, other: RouteStat) -> RouteStat:
        """The two summed (for folding names outside the bounded labels into ``other``)."""
        return RouteStat(
            self.house, self.kind, self.considered + other.considered, self.won + other.won,
            self.settled + other.settled, self.void + other.void, self.open + other.open, self.prs + other.prs,
            self.pr_seconds + other.pr_seconds,
        )  # fmt: skip

    def as_dict(self) -> dict[str, Any]:
        return {
            "house": self.house, "kind": self.kind, "considered": self.considered, "won": self.won,
            "win_rate": _round(self.win_rate), "settled": self.settled, "void": self.void, "open": self.open,
            "completion_rate": _round(self.completion_rate), "prs": self.prs,
            "mean_time_to_pr_seconds": _round(self.mean_time_to_pr),
        }  # fmt: skip


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _seconds(start: str, end: str) -> float:
    fmt = "%Y-%m-%dT%H:%M:%S.%fZ"
    began = datetime.strptime(start, fmt).replace(tzinfo=UTC)
    return max(0.0, (datetime.strptime(end, fmt).replace(tzinfo=UTC) - began).total_seconds())


def routing_stats(store: Store) -> list[RouteStat]:
    """Every (house, kind) with a bid, sorted by house then kind."""
    rows = store.query(
        "SELECT house, kind, sum(eligible) AS considered, sum(won) AS won, sum(state = 'settled') AS settled,"
        " sum(state = 'void') AS void, sum(state = 'open') AS open FROM ledger_bids GROUP BY house, kind"
    )
    prs: dict[tuple[str, str], tuple[int, float]] = {}
    for row in store.query("SELECT house, kind, at, pr_at FROM ledger_bids WHERE won = 1 AND pr_at IS NOT NULL"):
        count, total = prs.get((row["house"], row["kind"]), (0, 0.0))
        prs[(row["house"], row["kind"])] = (count + 1, total + _seconds(row["at"], row["pr_at"]))
    out = []
    for row in rows:
        count, total = prs.get((row["house"], row["kind"]), (0, 0.0))
        considered, won, settled, void, open_ = (
            int(row[name] or 0) for name in ("considered", "won", "settled", "void", "open")
        )
        out.append(RouteStat(row["house"], row["kind"], considered, won, settled, void, open_, count, total))
    return sorted(out, key=lambda s: (s.house, s.kind))


def bounded(
    stats: list[RouteStat], houses: Collection[str], kinds: Collection[str]
) -> dict[tuple[str, str], RouteStat]:
    """``stats`` keyed by (house, kind), names outside ``houses`` and ``kinds`` folded into ``other``; every
    configured pair present (zero when it has no bid)."""
    out = {(h, k): RouteStat(h, k) for h in houses for k in kinds}
    for stat in stats:
        key = (stat.house if stat.house in houses else OTHER, stat.kind if stat.kind in kinds else OTHER)
        out[key] = out.get(key, RouteStat(*key)).merged(stat)
    return out


class RoutingStatsCollector(Collector):
    """The statistics of each watched store (one per path) at scrape time, with bounded labels."""

    def __init__(self) -> None:
        self.stores: weakref.WeakKeyDictionary[Store, tuple[frozenset[str], frozenset[str]]] = (
            weakref.WeakKeyDictionary()
        )

    def describe(self) -> Iterator[GaugeMetricFamily]:
        """The families without samples: registering must not read the store."""
        yield from self._families().values()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        families = self._families()
        seen: set[str] = set()
        for store, (houses, kinds) in list(self.stores.items()):
            path = str(store.path.resolve())
            if path in seen:
                continue
            seen.add(path)
            try:
                stats = routing_stats(store)
            except StoreError as exc:  # a scrape reports what it can; /health reports the store
                log.warning("cannot read the routing statistics: %s", exc)
                continue
            for (house, kind), stat in sorted(bounded(stats, houses, kinds).items()):
                values = {
                    "considered": stat.considered, "won": stat.won, "win_ratio": stat.win_rate,
                    "completion_ratio": stat.completion_rate, "time_to_pr": stat.mean_time_to_pr,
                }  # fmt: skip
                for name, value in values.items():
                    if value is not None:
                        families[name].add_metric([house, kind], value)
        yield from families.values()

    @staticmethod
    def _families() -> dict[str, GaugeMetricFamily]:
        labels = ["house", "kind"]
        return {
            "considered": GaugeMetricFamily(
                "uniwizard_routing_considered", "Routing decisions with the house an eligible candidate.", labels=labels
            ),
            "won": GaugeMetricFamily("uniwizard_routing_won", "Routing decisions the house won.", labels=labels),
            "win_ratio": GaugeMetricFamily(
                "uniwizard_routing_win_ratio", "Won over considered (absent before any).", labels=labels
            ),
            "completion_ratio": GaugeMetricFamily(
                "uniwizard_routing_completion_ratio",
                "Of the won bids that ended, the share settled (work done) rather than void.",
                labels=labels,
            ),
            "time_to_pr": GaugeMetricFamily(
                "uniwizard_routing_time_to_pr_seconds",
                "Mean time from the winning decision to the issue first seen in review.",
                labels=labels,
            ),
        }


class RoutingStatsMetrics(MetricSet):
    """The routing statistics collector, registered once per registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__(registry)
        self.collector = RoutingStatsCollector()
        registry.register(self.collector)

    def watch(self, store: Store, *, houses: Collection[str], kinds: Collection[str]) -> None:
        """Export ``store``'s statistics, labelled by ``houses`` and ``kinds`` (the configured ones)."""
        self.collector.stores[store] = (frozenset(houses), frozenset(kinds))
