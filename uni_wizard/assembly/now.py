"""The Now view of this host, read: ``uni-wizard houses --now`` prints it, the daemon's Now page renders it.

    async with looked_at(settings, runtime) as node:          # assembly/mesh.py: the lease, the peers
        snapshot = await take_now(settings, runtime, node=node, breakers=breakers_from_daemon(settings))
    # the daemon, whose breakers are the live ones:
    take_now(settings, runtime, node=node, breakers=breakers_of(runtime.breakers.states(), providers, "this daemon"))

Where each part comes from:

- the houses of this host: its row of the mesh file (a mesh of one: ``settings.house``);
- what each does now: the event log's ``issue.claimed`` not followed by ``work.finished`` (``observe/now.py``),
  kept only while the forge still shows the issue ``status/in-progress`` (a worker killed mid-task leaves a
  claim the dispatcher requeues), and the Harness's provenance records of the task (steps, the latest);
- the queue and the room: the dispatcher's read of the forge (``dispatch/line_view.py``);
- the lease and the peers: the mesh view (``mesh/status.py``);
- the breakers: given by the caller (the daemon's own, or ``breakers_from_daemon`` asked over HTTP).

A part that cannot be read (no forge configured, the forge away) leaves its fields None and says why in
``problems``; the snapshot is always returned.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..config import Settings
from ..dispatch.line_view import LineView, read_line
from ..errors import ConfigError, ForgeError, ForgeUnavailable, StoreError
from ..harness.provenance import ProvenanceLog
from ..harness.runtime import Runtime
from ..mesh.node import MeshNode
from ..observe.events import EventLog
from ..observe.now import (
    WORK_KINDS,
    BreakerNow,
    BreakersNow,
    ClaimNow,
    HouseNow,
    LeaseNow,
    NowSnapshot,
    PeerNow,
    QueueNow,
    StepNow,
    WorkNow,
    event_time,
    open_claims,
)
from .configs import Configs
from .local_daemon import ask_daemon
from .shared import role_forge

__all__ = ["breakers_from_daemon", "breakers_of", "host_houses", "take_now"]

EVENTS_READ = 2000  # the latest claim and finish events looked at: far more than a host's houses have in hand
STEPS_READ = 500  # provenance records of one task looked at


def host_houses(settings: Settings, node: MeshNode | None) -> tuple[str, ...]:
    """The houses that work on this host: its row of the mesh file, else ``settings.house``."""
    me = node.mesh.host(settings.host) if node is not None else None
    if me is not None and me.houses:
        return tuple(me.houses)
    return (settings.house,) if settings.house else ()


def breakers_of(tool_groups: Mapping[str, str], providers: Sequence[Mapping[str, Any]], source: str) -> BreakersNow:
    """The breakers not closed among a runtime's tool groups (``BreakerBoard.states()``) and a cascade's providers
    (``Cascade.status()["providers"]``)."""
    found = [BreakerNow("tools", group, state) for group, state in sorted(tool_groups.items()) if state != "closed"]
    for row in providers:
        state = row.get("breaker")
        if isinstance(state, str) and state != "closed":
            found.append(BreakerNow("provider", str(row.get("name")), state))
    return BreakersNow(True, source, tuple(found))


def breakers_from_daemon(settings: Settings) -> BreakersNow:
    """The breakers of this host's daemon (``/ready``'s tool groups, ``/api/v1/cascade``'s providers); unknown when
    no daemon answers (a CLI process's own breakers are fresh, so they would say nothing)."""
    ready, url = ask_daemon(settings, "/ready")
    if ready is None:
        return BreakersNow(False, f"no daemon answered at {url}: the breakers live in its process")
    groups = (ready.get("components") or {}).get("breakers", {}).get("groups") or {}
    cascade, _ = ask_daemon(settings, "/api/v1/cascade")
    providers = (cascade or {}).get("providers") or []
    tool_groups = {str(k): str(v) for k, v in groups.items()} if isinstance(groups, dict) else {}
    rows = [p for p in providers if isinstance(p, dict)] if isinstance(providers, list) else []
    return breakers_of(tool_groups, rows, f"the daemon at {url.removesuffix('/ready')}")


def _lease(node: MeshNode | None) -> LeaseNow | None:
    view = node.lease.view() if node is not None else None
    if view is None:
        return None
    return LeaseNow(
        holder=view["holder"], house=view["house"], epoch=view["epoch"], expired=view["expired"],
        source=view["source"], error=view["error"],
    )  # fmt: skip


def _peers(node: MeshNode | None) -> tuple[PeerNow, ...]:
    if node is None:
        return ()
    rows = node.view.snapshot()["hosts"]
    return tuple(_peer(row) for row in rows if not row["self"])


def _peer(row: Mapping[str, Any]) -> PeerNow:
    return PeerNow(
        host=row["host"],
        health=row["health"],
        heartbeat_age_seconds=row["heartbeat_age_seconds"],
        heartbeat_source=row["heartbeat_source"],
        stale=row["heartbeat_stale"],
        lease_holder=row["lease_holder"],
    )


def _work(claim: ClaimNow, provenance: ProvenanceLog, now: float) -> WorkNow:
    """The claim with the steps its house has run for the task since it was claimed."""
    records = [
        r
        for r in provenance.tail(STEPS_READ, task=claim.task)
        if r.house == claim.house and (event_time(r.at) or 0.0) >= claim.since - 1.0
    ]
    last = records[-1] if records else None
    step = StepNow(last.tool, last.status, event_time(last.at), last.id) if last is not None else None
    return WorkNow(
        claim.repository, claim.number, claim.since, round(max(0.0, now - claim.since), 3), len(records), step
    )


async def _line(settings: Settings, runtime: Runtime, houses: Sequence[str]) -> LineView:
    """The forge's line over the repositories this host's workers watch (else the dispatcher's)."""
    configs = Configs(settings)
    repos = settings.worker_repos or configs.triage.dispatcher.repos
    if not repos:
        raise ConfigError("no repository is watched: set worker_repos or dispatcher.repos", key="worker_repos")
    house = houses[0] if houses else settings.dispatcher_house
    async with contextlib.AsyncExitStack() as closing:
        forge = role_forge(settings, runtime, "Now view", house, closing=closing, retries=0)
        return await read_line(forge, repos, runtime.houses, hold_label=configs.triage.dispatcher.hold_label)


async def take_now(
    settings: Settings,
    runtime: Runtime,
    *,
    node: MeshNode | None,
    breakers: BreakersNow,
    clock: Callable[[], float] = time.time,
) -> NowSnapshot:
    """The Now view of this host (see the module docstring); ``node`` has looked at the mesh (None: no mesh view)."""
    houses = host_houses(settings, node)
    problems: list[str] = []
    line: LineView | None = None
    try:
        line = await _line(settings, runtime, houses)
    except (ConfigError, ForgeError, ForgeUnavailable) as exc:
        problems.append(f"the queue is unknown: {exc}")
    try:
        claims = open_claims(EventLog(runtime.store, runtime.host).recent(EVENTS_READ, WORK_KINDS))
    except StoreError as exc:
        claims = []
        problems.append(f"the work in hand is unknown: {exc}")
    now = clock()
    provenance = ProvenanceLog(runtime.store)
    rows = []
    for house in houses:
        mine = [c for c in claims if c.house == house]
        if line is not None:  # still in progress on the forge: a claim the dispatcher requeued is not work in hand
            mine = [c for c in mine if (c.repository, c.number) in line.in_progress.get(house, set())]
        policy = runtime.houses.get(house)
        rows.append(
            HouseNow(
                house=house,
                capacity=policy.max_concurrency if policy is not None else 0,
                busy=None if line is None else line.load.get(house, 0),
                work=tuple(_work(c, provenance, now) for c in mine),
                queue=None if line is None else QueueNow.from_counts(line.states.get(house, {})),
            )
        )
    return NowSnapshot(
        host=settings.host, generated_at=now, houses=tuple(rows), lease=_lease(node), peers=_peers(node),
        breakers=breakers, problems=tuple(problems),
    )  # fmt: skip
