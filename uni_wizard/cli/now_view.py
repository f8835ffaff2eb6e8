"""``houses --now`` in the terminal: the Now snapshot (``observe/now.py``) as summary lines and two tables.

    lines, (columns, rows), (peer_columns, peer_rows) = render_now(snapshot)

Pure: it formats, the command prints. One row per issue a house has in hand (a house with none has one row
saying ``idle``); the queue is ``routed / in progress / blocked / review`` as the forge's labels count them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from ..dispatch.line_view import format_age
from ..observe.now import HouseNow, LeaseNow, NowSnapshot, PeerNow, WorkNow
from .common import Col

__all__ = ["HOUSE_COLUMNS", "PEER_COLUMNS", "house_rows", "now_lines", "peer_rows"]

HOUSE_COLUMNS = (
    Col("house"),
    Col("working on", width=10, wrap=True),
    Col("step", width=10, wrap=True, drop=2),
    Col("elapsed"),
    Col("queue r/p/b/v", drop=1),
    Col("room", drop=3),
)
PEER_COLUMNS = (
    Col("peer", width=8, wrap=True),
    Col("health"),
    Col("heartbeat", width=10, wrap=True),
    Col("lease", drop=1),
)
Row = tuple[str, ...]


def lease_line(lease: LeaseNow | None) -> str:
    if lease is None:
        return "lease: unknown (no forge configured: gitea_url and gitea_token)"
    where = f" [{lease.source}]" if lease.source else ""
    if lease.error:
        return f"lease: unreadable ({lease.error}){where}"
    if lease.holder is None:
        return f"lease: nobody holds it{where}"
    lapsed = " (expired)" if lease.expired else ""
    return f"lease: {lease.holder} ({lease.house}), epoch {lease.epoch}{lapsed}{where}"


def now_lines(snapshot: NowSnapshot) -> list[str]:
    """The lines above the tables: where and when, the lease, the open breakers, what could not be read."""
    at = datetime.fromtimestamp(snapshot.generated_at, UTC).strftime("%H:%M:%S UTC")
    breakers = snapshot.breakers
    if not breakers.known:
        opened = f"breakers: unknown ({breakers.source})"
    elif not breakers.open:
        opened = f"breakers: none open ({breakers.source})"
    else:
        names = ", ".join(f"{b.kind} {b.name} {b.state}" for b in breakers.open)
        opened = f"breakers: {names} ({breakers.source})"
    lines = [f"now on {snapshot.host}, {at}", lease_line(snapshot.lease), opened]
    if not snapshot.houses:
        lines.append("no house works on this host (its row of the mesh file names none, and `house` is unset)")
    return lines + [f"problem: {p}" for p in snapshot.problems]


def _step(work: WorkNow) -> str:
    last = work.last_step
    if last is None:
        return "preparing (no step yet)"
    return f"{last.tool} {last.status} ({work.steps} step{'' if work.steps == 1 else 's'})"


def _queue(house: HouseNow) -> str:
    q = house.queue
    return "-" if q is None else f"{q.routed}/{q.in_progress}/{q.blocked}/{q.review}"


def _room(house: HouseNow) -> str:
    return "-" if house.busy is None else f"{house.busy}/{house.capacity} busy"


def house_rows(houses: Sequence[HouseNow]) -> list[Row]:
    """One row per issue in hand, the house's queue and room on its first row; ``idle`` when it has none."""
    rows: list[Row] = []
    for house in houses:
        if not house.work:
            rows.append((house.house, "idle", "-", "-", _queue(house), _room(house)))
            continue
        for place, work in enumerate(house.work):
            first = place == 0
            rows.append(
                (
                    house.house if first else "",
                    work.ref,
                    _step(work),
                    format_age(work.elapsed_seconds),
                    _queue(house) if first else "",
                    _room(house) if first else "",
                )
            )
    return rows


def _heartbeat(peer: PeerNow) -> str:
    if peer.heartbeat_age_seconds is None:
        return "never"
    stale = " (stale)" if peer.stale else ""
    return f"{peer.heartbeat_age_seconds:.1f} s ago via {peer.heartbeat_source}{stale}"


def peer_rows(peers: Sequence[PeerNow]) -> list[Row]:
    return [(p.host, p.health, _heartbeat(p), "holder" if p.lease_holder else "-") for p in peers]
