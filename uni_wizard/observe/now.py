"""The Now view: what each house of this host is doing this minute, its queue and room, the lease, the peers and
the open breakers, as typed values (``NowSnapshot``) that a terminal table and a web page both render.

    claims = open_claims(log.recent(500, WORK_KINDS), now=time.time())   # the claims no work.finished closed
    snapshot = NowSnapshot(host="vps-a", generated_at=now, houses=(...), lease=..., peers=(...), breakers=...)
    snapshot.as_dict()                                                   # `uni-wizard houses --now --json`

The worker writes ``issue.claimed`` when it claims an issue and ``work.finished`` when it is done with it
(``work/worker.py``); a claim with no later ``work.finished`` of the same house and issue is work in hand.
Its steps are the Harness's provenance records of the task ``<repo>#<n>``; ``assembly/now.py`` reads them, the
forge's labels (the queue) and the mesh view, and builds the snapshot. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from .events import Event, EventKind

__all__ = [
    "WORK_FINISHED",
    "WORK_KINDS",
    "BreakerNow",
    "BreakersNow",
    "ClaimNow",
    "HouseNow",
    "LeaseNow",
    "NowSnapshot",
    "PeerNow",
    "QueueNow",
    "StepNow",
    "WorkNow",
    "event_time",
    "open_claims",
    "plain",
]

WORK_FINISHED = "work.finished"
WORK_KINDS = (str(EventKind.ISSUE_CLAIMED), WORK_FINISHED)
"""The event kinds ``open_claims`` reads."""


def plain(value: Any) -> Any:
    """``dataclasses.asdict`` output as JSON has it: tuples become lists (recursively)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def event_time(at: str) -> float | None:
    """The UNIX time of an event's ``at`` (the store's ISO format); None when it cannot be read."""
    try:
        moment = datetime.fromisoformat(at.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


@dataclass(frozen=True)
class ClaimNow:
    """A claim still open: ``house`` works ``repository#number`` since ``since`` (UNIX time), for ``ttl`` seconds
    at a time (renewed while the work runs)."""

    house: str
    repository: str
    number: int
    since: float
    ttl: float | None = None

    @property
    def task(self) -> str:
        """The Harness task of the work: what its provenance records carry."""
        return f"{self.repository}#{self.number}"


def open_claims(events: Iterable[Event]) -> list[ClaimNow]:
    """The claims in ``events`` (oldest first) that no later ``work.finished`` of the same house and issue closed,
    oldest first; a claim made again (after a restart) counts from its latest ``issue.claimed``."""
    open_: dict[tuple[str, str, int], ClaimNow] = {}
    for event in events:
        house = event.data.get("house")
        if not isinstance(house, str) or event.repository is None or event.number is None:
            continue
        key = (house, event.repository, event.number)
        if event.kind == EventKind.ISSUE_CLAIMED:
            since = event_time(event.at)
            ttl = event.data.get("ttl")
            if since is not None:
                open_[key] = ClaimNow(house, event.repository, event.number, since, _number(ttl))
        elif event.kind == WORK_FINISHED:
            open_.pop(key, None)
    return sorted(open_.values(), key=lambda c: (c.since, c.task))


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class StepNow:
    """The latest step of a task: its tool, status, when it ended (UNIX time) and its provenance id."""

    tool: str
    status: str
    at: float | None
    provenance_id: int | None


@dataclass(frozen=True)
class WorkNow:
    """One issue a house has in hand: since when, how long, the steps done so far and the latest of them."""

    repository: str
    number: int
    since: float
    elapsed_seconds: float
    steps: int = 0
    last_step: StepNow | None = None

    @property
    def ref(self) -> str:
        return f"{self.repository}#{self.number}"


@dataclass(frozen=True)
class QueueNow:
    """A house's open issues by status, as the forge's labels show them (None: the forge was not read)."""

    routed: int = 0
    in_progress: int = 0
    blocked: int = 0
    review: int = 0

    @classmethod
    def from_counts(cls, counts: Mapping[str, int]) -> QueueNow:
        """From ``line_view.house_states``' counts (``in-progress`` with its dash)."""
        return cls(
            routed=counts.get("routed", 0),
            in_progress=counts.get("in-progress", 0),
            blocked=counts.get("blocked", 0),
            review=counts.get("review", 0),
        )


@dataclass(frozen=True)
class HouseNow:
    """One house of this host: what it works on now, its queue and its room (``busy`` of ``capacity``)."""

    house: str
    capacity: int
    busy: int | None  # issues routed to it or in progress (the dispatcher's count); None: the forge was not read
    work: tuple[WorkNow, ...] = ()
    queue: QueueNow | None = None

    @property
    def free(self) -> int | None:
        return None if self.busy is None else max(0, self.capacity - self.busy)


@dataclass(frozen=True)
class LeaseNow:
    """The dispatcher lease: who holds it, its epoch, whether it lapsed, where it was read, why it could not be."""

    holder: str | None
    house: str | None
    epoch: int | None
    expired: bool | None
    source: str
    error: str | None = None


@dataclass(frozen=True)
class PeerNow:
    """Another host of the mesh: its health and how old its last heartbeat is (None: never seen)."""

    host: str
    health: str
    heartbeat_age_seconds: float | None
    heartbeat_source: str | None
    stale: bool | None
    lease_holder: bool = False


@dataclass(frozen=True)
class BreakerNow:
    """A breaker that is not closed: a tool group's (``kind`` ``tools``) or a model provider's (``provider``)."""

    kind: str
    name: str
    state: str


@dataclass(frozen=True)
class BreakersNow:
    """The breakers not closed, and where their states were read (``known`` False: nowhere, and ``source`` says
    why: the breakers live in the daemon's process)."""

    known: bool
    source: str
    open: tuple[BreakerNow, ...] = ()


@dataclass(frozen=True)
class NowSnapshot:
    """Everything the Now view shows, as read at ``generated_at`` (UNIX time) on ``host``; ``problems`` lists what
    could not be read (the forge, the lease...), each a sentence."""

    host: str
    generated_at: float
    houses: tuple[HouseNow, ...]
    lease: LeaseNow | None
    peers: tuple[PeerNow, ...]
    breakers: BreakersNow
    problems: tuple[str, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape (``houses --now --json``, and the Now page's API)."""
        data: dict[str, Any] = plain(asdict(self))
        for house, row in zip(self.houses, data["houses"], strict=True):
            row["free"] = house.free
            for work, item in zip(house.work, row["work"], strict=True):
                item["issue"] = work.ref
        return data
