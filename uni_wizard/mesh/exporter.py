"""Syncthing's state, polled into a snapshot and exposed on ``/metrics`` (Syncthing 1.19 has no /metrics).

    monitor = SyncthingMonitor(client, folder_id="uni-wizard")
    await monitor.refresh()                      # or: await monitor.run(stop, every=2.0)
    monitor.snapshot.available                   # False while Syncthing is down or the folder is errored/paused
    registry.register(SyncthingCollector(monitor, folder_id="uni-wizard"))

The REST calls happen in the monitor's loop, never during a scrape: the collector reads the last
snapshot, so ``/metrics`` stays fast when Syncthing hangs. Metrics (labels bounded: ``folder`` is the
configured folder id, ``peer`` a device name from Syncthing's configuration, ``state`` one of
``FOLDER_STATES``):

    uniwizard_syncthing_up                                   1 when the last poll reached Syncthing
    uniwizard_syncthing_folder_state{folder,state}           1 for the current state, 0 for the others
    uniwizard_syncthing_folder_need_bytes{folder}            bytes this host still has to fetch
    uniwizard_syncthing_folder_need_files{folder}            files this host still has to fetch
    uniwizard_syncthing_folder_errors{folder}                files Syncthing failed to sync
    uniwizard_syncthing_completion_ratio{folder,peer}        0-1: how much of the folder the peer has
    uniwizard_syncthing_connected_devices                    devices connected now
    uniwizard_syncthing_last_poll_timestamp_seconds          when the snapshot was taken

``SpoolCollector`` adds the spool's own gauges (availability, buffered events, conflict files).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ..errors import SyncthingError
from .spool import SpoolWriter
from .spool_reader import SpoolReader
from .syncthing import FOLDER_STATES, Completion, Connection, FolderError, FolderStatus, SyncthingClient

__all__ = ["SpoolCollector", "SyncthingCollector", "SyncthingMonitor", "SyncthingSnapshot"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SyncthingSnapshot:
    """What one poll of Syncthing found. ``problem`` says why the folder is not usable (None: it is)."""

    checked_at: float
    up: bool
    problem: str | None
    my_id: str = ""
    folder: FolderStatus | None = None
    paused: bool = False
    folder_errors: tuple[FolderError, ...] = ()
    connections: Mapping[str, Connection] = field(default_factory=dict)
    completion: Mapping[str, Completion] = field(default_factory=dict)  # folder devices other than this one
    device_names: Mapping[str, str] = field(default_factory=dict)
    rescan_interval_seconds: int | None = None
    fs_watcher_enabled: bool | None = None
    fs_watcher_delay_seconds: float | None = None

    @property
    def available(self) -> bool:
        return self.problem is None

    def peer_name(self, device: str) -> str:
        return self.device_names.get(device) or device[:7]

    def as_dict(self) -> dict[str, object]:
        """The JSON of ``GET /api/v1/mesh``'s ``syncthing`` section."""
        folder = self.folder
        return {
            "configured": True,
            "up": self.up,
            "available": self.available,
            "problem": self.problem,
            "device_id": self.my_id or None,
            "state": "paused" if self.paused else (folder.state if folder else None),
            "need_files": folder.need_files if folder else None,
            "need_bytes": folder.need_bytes if folder else None,
            "folder_errors": len(self.folder_errors),
            "connected_devices": sum(1 for c in self.connections.values() if c.connected),
            "checked_at": self.checked_at,
        }


NOT_POLLED = SyncthingSnapshot(checked_at=0.0, up=False, problem="Syncthing has not been polled yet")


class SyncthingMonitor:
    """Polls ``client`` about ``folder_id`` and keeps the last ``SyncthingSnapshot``."""

    def __init__(self, client: SyncthingClient, folder_id: str, *, clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.folder_id = folder_id
        self.clock = clock
        self.snapshot = NOT_POLLED

    def problem(self) -> str | None:
        """Why the folder cannot be used now, from the last snapshot (the spool's availability seam)."""
        return self.snapshot.problem

    async def refresh(self) -> SyncthingSnapshot:
        """Poll Syncthing once; a failure lands in the snapshot's ``problem``, it is never raised."""
        now = self.clock()
        try:
            self.snapshot = await self._poll(now)
        except SyncthingError as exc:
            up = exc.status not in (0, 401, 403)
            self.snapshot = SyncthingSnapshot(checked_at=now, up=up, problem=str(exc))
        except (ValueError, TypeError, AttributeError) as exc:  # a field of an unexpected type
            problem = f"Syncthing answered something this client does not understand: {exc}"
            self.snapshot = SyncthingSnapshot(checked_at=now, up=True, problem=problem)
        return self.snapshot

    async def run(self, stop: asyncio.Event, every: float) -> None:
        """``refresh`` every ``every`` seconds until ``stop`` is set."""
        was: str | None = ""
        while not stop.is_set():
            snap = await self.refresh()
            if snap.problem != was:
                if snap.problem:
                    log.warning("syncthing folder %s unavailable: %s", self.folder_id, snap.problem)
                elif was:
                    log.info("syncthing folder %s available again", self.folder_id)
                was = snap.problem
            try:
                await asyncio.wait_for(stop.wait(), timeout=every)
            except TimeoutError:
                continue

    async def _poll(self, now: float) -> SyncthingSnapshot:
        st, folder_id = self.client, self.folder_id
        my_id = await st.my_id()
        config = await st.folder_config(folder_id)  # 404: Syncthing has no such folder
        status = await st.folder_status(folder_id)
        errors = tuple(await st.folder_errors(folder_id))
        connections = await st.connections()
        names = await st.device_names()
        devices = [str(d.get("deviceID")) for d in config.get("devices") or [] if isinstance(d, dict)]
        completion = {dev: await st.completion(folder_id, dev) for dev in devices if dev and dev != my_id}
        paused = bool(config.get("paused"))
        problem = None
        if paused:
            problem = f"the folder {folder_id!r} is paused in Syncthing"
        elif status.state == "error":
            problem = f"Syncthing reports the folder {folder_id!r} errored: {status.error or 'no reason given'}"
        delay = config.get("fsWatcherDelayS")
        return SyncthingSnapshot(
            checked_at=now,
            up=True,
            problem=problem,
            my_id=my_id,
            folder=status,
            paused=paused,
            folder_errors=errors,
            connections=connections,
            completion=completion,
            device_names=names,
            rescan_interval_seconds=_int_or_none(config.get("rescanIntervalS")),
            fs_watcher_enabled=None if "fsWatcherEnabled" not in config else bool(config["fsWatcherEnabled"]),
            fs_watcher_delay_seconds=None if delay is None else float(delay),
        )


def _int_or_none(value: object) -> int | None:
    return int(value) if isinstance(value, int | float) else None


class SyncthingCollector(Collector):
    """The ``uniwizard_syncthing_*`` metrics, read from ``monitor.snapshot`` at scrape time."""

    def __init__(self, monitor: SyncthingMonitor, folder_id: str) -> None:
        self.monitor = monitor
        self.folder_id = folder_id

    def collect(self) -> Iterator[GaugeMetricFamily]:
        snap = self.monitor.snapshot
        folder = self.folder_id
        yield GaugeMetricFamily("uniwizard_syncthing_up", "1 when the last poll reached Syncthing.", value=snap.up)
        yield GaugeMetricFamily(
            "uniwizard_syncthing_last_poll_timestamp_seconds",
            "UNIX time of the last Syncthing poll.",
            value=snap.checked_at,
        )
        if snap.folder is None:
            return
        current = "paused" if snap.paused else snap.folder.state
        states = GaugeMetricFamily(
            "uniwizard_syncthing_folder_state",
            "1 for the folder's current state, 0 for the others.",
            labels=["folder", "state"],
        )
        for state in (*FOLDER_STATES, "paused"):
            states.add_metric([folder, state], 1.0 if state == current else 0.0)
        yield states
        for name, doc, value in (
            ("need_bytes", "Bytes this host still has to fetch.", snap.folder.need_bytes),
            ("need_files", "Files this host still has to fetch.", snap.folder.need_files),
            ("errors", "Files Syncthing failed to sync (/rest/folder/errors).", len(snap.folder_errors)),
        ):
            family = GaugeMetricFamily(f"uniwizard_syncthing_folder_{name}", doc, labels=["folder"])
            family.add_metric([folder], float(value))
            yield family
        ratio = GaugeMetricFamily(
            "uniwizard_syncthing_completion_ratio",
            "How much of the folder each peer device has, as this Syncthing knows it (0-1).",
            labels=["folder", "peer"],
        )
        for device, done in sorted(snap.completion.items()):
            ratio.add_metric([folder, snap.peer_name(device)], done.percent / 100.0)
        yield ratio
        yield GaugeMetricFamily(
            "uniwizard_syncthing_connected_devices",
            "Syncthing devices connected now.",
            value=sum(1 for c in snap.connections.values() if c.connected),
        )


class SpoolCollector(Collector):
    """``uniwizard_spool_available``, ``uniwizard_spool_buffered_events``, ``uniwizard_spool_exported_seq``,
    ``uniwizard_syncthing_conflict_files`` and ``uniwizard_peer_telemetry_seq{peer}``, read at scrape time."""

    def __init__(self, writer: SpoolWriter, reader: SpoolReader) -> None:
        self.writer = writer
        self.reader = reader

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(
            "uniwizard_spool_available",
            "1 when this host can write to the shared folder (else telemetry is buffered).",
            value=self.writer.problem is None,
        )
        yield GaugeMetricFamily(
            "uniwizard_spool_buffered_events",
            "Events logged but not yet exported to the shared folder.",
            value=self.writer.buffered(),
        )
        yield GaugeMetricFamily(
            "uniwizard_spool_exported_seq", "The last event seq exported as telemetry.", value=self.writer.exported_seq
        )
        yield GaugeMetricFamily(
            "uniwizard_syncthing_conflict_files",
            "Syncthing conflict files (*.sync-conflict-*) present in the shared folder.",
            value=len(self.reader.conflicts),
        )
        seqs = GaugeMetricFamily(
            "uniwizard_peer_telemetry_seq", "The highest event seq read from each peer's telemetry.", labels=["peer"]
        )
        for peer, stats in sorted(self.reader.telemetry.items()):
            seqs.add_metric([peer], float(stats.last_seq))
        yield seqs
