"""This host's telemetry pipeline, read: ``uni-wizard telemetry --status`` (the seed's verification command).

    async with looked_at(settings, runtime) as node:        # assembly/mesh.py: one read-only look
        status = telemetry_status(runtime, node)
    status.as_dict()                                         # `--json`

The pipeline: the event log (``observe/events.py``, in this host's store) → the spool writer, which exports it
line by line to ``<folder>/<host>/telemetry/`` and keeps its cursor (the last exported ``seq``) in the data
directory → Syncthing, which carries the folder to the other hosts → each host's spool reader, which reads its
peers' lines (``mesh/spool_reader.py``). So, per stage: the log's head ``seq``; the cursor, how many events are
buffered behind it and how long the oldest of them has waited (the lag); Syncthing's folder state; per peer its
last heartbeat (age, ``seq``, the cursor it announces) and how far this host has read its telemetry. The Hermes
ingest position (a bridge reading the telemetry into Hermes) does not exist yet: the status says so.

Nothing is written; the store must exist (``no_store_yet`` says what to do when it does not).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import StoreError
from ..harness.runtime import Runtime
from ..mesh.node import MeshNode
from ..mesh.peers import heartbeat_age
from ..observe.events import EventLog
from ..observe.now import event_time, plain

__all__ = [
    "HERMES_NOT_CONFIGURED",
    "HermesStatus",
    "LogStatus",
    "PeerTelemetryStatus",
    "SpoolStatus",
    "SyncthingStatus",
    "TelemetryStatus",
    "check_store",
    "telemetry_status",
]

HERMES_NOT_CONFIGURED = "not configured: no Hermes ingest exists yet, so no position is kept"


@dataclass(frozen=True)
class LogStatus:
    """The event log: its newest ``seq`` (0: empty) and the store that holds it."""

    head_seq: int
    store: str


@dataclass(frozen=True)
class SpoolStatus:
    """The spool writer: where it writes, whether it can, the cursor, what waits behind it and for how long."""

    configured: bool
    folder: str | None = None
    available: bool | None = None
    problem: str | None = None
    exported_seq: int | None = None
    buffered: int | None = None
    lag_seconds: float | None = None  # how long the oldest event not exported has waited (0: nothing waits)
    heartbeat_age_seconds: float | None = None  # this host's last heartbeat file, as the daemon wrote it


@dataclass(frozen=True)
class SyncthingStatus:
    """Syncthing's view of the shared folder (``reachable`` False: its REST API did not answer)."""

    configured: bool
    reachable: bool | None = None
    available: bool | None = None
    state: str | None = None
    problem: str | None = None
    need_files: int | None = None
    need_bytes: int | None = None
    connected_devices: int | None = None
    url: str | None = None
    folder_id: str | None = None


@dataclass(frozen=True)
class PeerTelemetryStatus:
    """One peer: its last heartbeat (age, where from, its ``seq``, the telemetry cursor it announced) and what
    this host has read of its telemetry (the highest ``seq``, gaps, duplicates)."""

    host: str
    heartbeat_age_seconds: float | None
    heartbeat_source: str | None
    heartbeat_seq: int | None
    telemetry_seq: int | None  # the peer's own cursor, from its heartbeat
    read_seq: int | None  # the highest seq this host's reader took from its files (None: no spool here)
    gaps: int | None = None
    duplicates: int | None = None


@dataclass(frozen=True)
class HermesStatus:
    configured: bool
    position: int | None
    note: str


@dataclass(frozen=True)
class Throughput:
    """PRs this host's workers opened per house: in the last 24 hours and in the 24 before (the seed's measure
    of a house: issues turned into PRs per day)."""

    house: str
    last_day: int
    day_before: int


@dataclass(frozen=True)
class TelemetryStatus:
    host: str
    generated_at: float
    log: LogStatus
    spool: SpoolStatus
    syncthing: SyncthingStatus
    peers: tuple[PeerTelemetryStatus, ...]
    hermes: HermesStatus
    throughput: tuple[Throughput, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = plain(asdict(self))
        return data


def check_store(path: Path) -> None:
    """A ``StoreError`` saying what to do when this host has no store yet (nothing was ever logged here)."""
    if not path.is_file():
        raise StoreError(
            f"no store at {path} yet: this host has logged nothing; start its daemon (`uni-wizard serve`, or "
            "`uni-wizard up DIR` for an owner's mesh) and ask again"
        )


def _lag(log: EventLog, exported: int, now: float) -> float:
    """Seconds the oldest event after ``exported`` has waited (0 when none waits)."""
    first = log.tail(exported, 1)
    if not first:
        return 0.0
    at = event_time(first[0].at)
    return 0.0 if at is None else round(max(0.0, now - at), 3)


def _spool(node: MeshNode, log: EventLog, head: int, now: float) -> SpoolStatus:
    writer = node.writer
    if writer is None:
        return SpoolStatus(configured=False)
    beat = writer.last_heartbeat_at
    return SpoolStatus(
        configured=True,
        folder=str(writer.root),
        available=writer.problem is None,
        problem=writer.problem,
        exported_seq=writer.exported_seq,
        buffered=max(0, head - writer.exported_seq),
        lag_seconds=_lag(log, writer.exported_seq, now),
        heartbeat_age_seconds=None if beat is None else round(max(0.0, now - beat), 3),
    )


def _syncthing(node: MeshNode) -> SyncthingStatus:
    st = node.mesh.syncthing
    if node.monitor is None or st is None:
        return SyncthingStatus(configured=False)
    snap = node.monitor.snapshot
    view = snap.as_dict()
    return SyncthingStatus(
        configured=True,
        reachable=snap.up,
        available=snap.available,
        state=view["state"] if isinstance(view["state"], str) else None,
        problem=snap.problem,
        need_files=snap.folder.need_files if snap.folder else None,
        need_bytes=snap.folder.need_bytes if snap.folder else None,
        connected_devices=sum(1 for c in snap.connections.values() if c.connected) if snap.up else None,
        url=st.url,
        folder_id=st.folder_id,
    )


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _peers(node: MeshNode, now: float) -> tuple[PeerTelemetryStatus, ...]:
    reader = node.reader
    rows = []
    for peer in node.mesh.peers_of(node.host):
        beat = reader.heartbeats.get(peer.name) if reader else None
        age, source = heartbeat_age(now, beat, node.prober.results.get(peer.name))
        read = reader.telemetry.get(peer.name) if reader else None
        rows.append(
            PeerTelemetryStatus(
                host=peer.name,
                heartbeat_age_seconds=None if age is None else round(age, 3),
                heartbeat_source=source,
                heartbeat_seq=beat.seq if beat else None,
                telemetry_seq=_int(beat.data.get("telemetry_seq")) if beat else None,
                read_seq=read.last_seq if read else None,
                gaps=read.gaps if read else None,
                duplicates=read.duplicates if read else None,
            )
        )
    return tuple(rows)


def telemetry_status(runtime: Runtime, node: MeshNode, *, clock: Callable[[], float] = time.time) -> TelemetryStatus:
    """The pipeline as ``node`` last looked at it (``assembly.mesh.looked_at``) and the event log as it is now."""
    check_store(runtime.settings.db_path)
    log = EventLog(runtime.store, runtime.host)
    head = log.last_seq()
    now = clock()
    return TelemetryStatus(
        host=runtime.host,
        generated_at=now,
        log=LogStatus(head_seq=head, store=str(runtime.settings.db_path)),
        spool=_spool(node, log, head, now),
        syncthing=_syncthing(node),
        peers=_peers(node, now),
        hermes=HermesStatus(configured=False, position=None, note=HERMES_NOT_CONFIGURED),
        throughput=_throughput(runtime, now),
    )


def _throughput(runtime: Runtime, now: float) -> tuple[Throughput, ...]:
    """PRs opened per house (``work.finished`` with status ``review``) in the last two days, from this host's log."""
    day = 24 * 3600
    since = datetime.fromtimestamp(now - 2 * day, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    rows = runtime.store.query(
        "SELECT at, json_extract(data_json, '$.house') AS house FROM events WHERE kind = 'work.finished' "
        "AND json_extract(data_json, '$.status') = 'review' AND at >= ?",
        (since,),
    )
    counts: dict[str, list[int]] = {}
    for row in rows:
        at = datetime.fromisoformat(str(row["at"]).replace("Z", "+00:00")).replace(tzinfo=UTC).timestamp()
        slot = counts.setdefault(str(row["house"]), [0, 0])
        slot[0 if now - at <= day else 1] += 1
    return tuple(Throughput(house, last, before) for house, (last, before) in sorted(counts.items()))
