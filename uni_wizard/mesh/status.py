"""The mesh as this host sees it: per host its houses, roles, lease, heartbeat age, health and Syncthing state.

    view = MeshView(mesh, "vps-a", prober=prober, writer=writer, reader=reader, monitor=monitor, lease=lease)
    view.snapshot()     # the JSON of GET /api/v1/mesh and `uni-wizard mesh status --json`

Built only from what the components last saw (no I/O), so it answers at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .._version import __version__
from ..dispatch.lease_file import read_lease
from ..dispatch.lease_record import LeaseRecord
from ..dispatch.store_lease import read_store_lease
from ..errors import ForgeError, ForgeUnavailable, MeshError, StoreError
from ..meshfile.schema import LeaseSettings, MeshConfig
from .exporter import SyncthingMonitor
from .forge_api import MeshForge
from .peers import PeerHealth, PeerProber, heartbeat_age
from .spool import SpoolWriter
from .spool_reader import SpoolReader

if TYPE_CHECKING:
    from ..store import Store

__all__ = ["LeaseWatch", "MeshView", "forge_lease_reader", "store_lease_reader"]

log = logging.getLogger(__name__)

LeaseReader = Callable[[], Awaitable[LeaseRecord | None]]


def forge_lease_reader(forge: MeshForge, settings: LeaseSettings) -> LeaseReader:
    """Reads the dispatcher lease file from the forge the way the lease does (None when there is none)."""

    async def read() -> LeaseRecord | None:
        record, _sha = await read_lease(forge, settings)
        return record

    return read


def store_lease_reader(store: Store, name: str = "dispatcher") -> LeaseReader:
    """Reads a mesh of one's dispatcher lease from this host's store (``dispatch.store_lease``)."""

    async def read() -> LeaseRecord | None:
        return read_store_lease(store, name)

    return read


class LeaseWatch:
    """The dispatcher lease as last read (``read`` None: no forge configured, the lease is unknown); ``where``
    says where it is read from (the forge's lease file, this host's store)."""

    def __init__(self, read: LeaseReader | None, *, where: str = "", clock: Callable[[], float] = time.time) -> None:
        self.read = read
        self.where = where
        self.clock = clock
        self.record: LeaseRecord | None = None
        self.error: str | None = None
        self.checked_at: float | None = None

    async def refresh(self) -> None:
        if self.read is None:
            return
        try:
            self.record = await self.read()
            self.error = None
        except (ForgeError, ForgeUnavailable, MeshError, StoreError) as exc:
            self.error = str(exc)
        self.checked_at = self.clock()

    async def run(self, stop: asyncio.Event, every: float) -> None:
        while not stop.is_set():
            await self.refresh()
            try:
                await asyncio.wait_for(stop.wait(), timeout=every)
            except TimeoutError:
                continue

    def view(self) -> dict[str, Any] | None:
        """The lease for the mesh view and the heartbeat; None when nothing is known."""
        if self.read is None:
            return None
        record = self.record
        return {
            "holder": record.holder if record else None,
            "house": record.house if record else None,
            "epoch": record.epoch if record else None,
            "expires": record.expires if record else None,
            "expired": (record.expires < self.clock()) if record else None,
            "error": self.error,
            "checked_at": self.checked_at,
            "source": self.where,
        }


class MeshView:
    """Assembles the mesh view from the prober, the spool (writer and reader), the Syncthing monitor and the lease.

    ``self_health``: this host's own health (the daemon: up, since it answers; the CLI: a probe of its URL).
    """

    def __init__(
        self,
        mesh: MeshConfig,
        host: str,
        *,
        prober: PeerProber,
        lease: LeaseWatch,
        writer: SpoolWriter | None = None,
        reader: SpoolReader | None = None,
        monitor: SyncthingMonitor | None = None,
        self_health: Callable[[], PeerHealth | None] = lambda: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.mesh = mesh
        self.host = host
        self.prober = prober
        self.lease = lease
        self.writer = writer
        self.reader = reader
        self.monitor = monitor
        self.self_health = self_health
        self.clock = clock

    def snapshot(self) -> dict[str, Any]:
        now = self.clock()
        lease = self.lease.view()
        hosts = list(self.mesh.hosts)
        rows = [self._row(h.name, h.url, h.houses, h.roles, now, lease) for h in hosts]
        if self.mesh.host(self.host) is None:
            rows.insert(0, self._row(self.host, None, (), (), now, lease))
        return {
            "host": self.host,
            "version": __version__,
            "generated_at": now,
            "lease": lease,
            "syncthing": self._syncthing(),
            "spool": self._spool(),
            "conflicts": list(self.reader.conflicts) if self.reader else [],
            "hosts": rows,
        }

    def _row(
        self, name: str, url: str | None, houses: Any, roles: Any, now: float, lease: dict[str, Any] | None
    ) -> dict[str, Any]:
        me = name == self.host
        health = self.self_health() if me else self.prober.results.get(name)
        if me:
            age = (now - self.writer.last_heartbeat_at) if self.writer and self.writer.last_heartbeat_at else None
            source = "syncthing" if age is not None else None
            state = "up" if health is None else _health_word(health)
        else:
            beat = self.reader.heartbeats.get(name) if self.reader else None
            age, source = heartbeat_age(now, beat, health)
            state = _health_word(health)
        holder = bool(lease and lease.get("holder") == name)
        return {
            "host": name,
            "url": url,
            "self": me,
            "houses": list(houses),
            "roles": list(roles),
            "lease_holder": holder,
            "lease_epoch": lease.get("epoch") if lease and holder else None,
            "health": state,
            "health_error": health.error if health else None,
            "heartbeat_age_seconds": None if age is None else round(max(0.0, age), 3),
            "heartbeat_source": source,
            "heartbeat_stale": None if age is None else age > self.mesh.peers.heartbeat_stale_seconds,
            "syncthing": self._host_syncthing(name, me),
            "telemetry": self._telemetry(name, me),
        }

    def _host_syncthing(self, name: str, me: bool) -> dict[str, Any] | str:
        if self.monitor is None:
            return "not configured"
        snap = self.monitor.snapshot
        if me:
            return {"state": snap.as_dict()["state"], "up": snap.up, "available": snap.available}
        beat = self.reader.heartbeats.get(name) if self.reader else None
        device = beat.data.get("syncthing_device") if beat else None
        if not isinstance(device, str) or not device:
            return {"device": None, "connected": None, "completion": None}
        link = snap.connections.get(device)
        done = snap.completion.get(device)
        return {
            "device": device,
            "connected": link.connected if link else None,
            "completion": done.percent if done else None,
        }

    def _telemetry(self, name: str, me: bool) -> dict[str, Any] | None:
        if me:
            if self.writer is None:
                return None
            return {"exported_seq": self.writer.exported_seq, "buffered": self.writer.buffered()}
        if self.reader is None or name not in self.reader.telemetry:
            return None
        return self.reader.telemetry[name].as_dict()

    def _syncthing(self) -> dict[str, Any]:
        if self.monitor is None:
            return {"configured": False, "state": "not configured"}
        return self.monitor.snapshot.as_dict()

    def _spool(self) -> dict[str, Any] | None:
        if self.writer is None:
            return None
        return {
            "folder": str(self.writer.root),
            "available": self.writer.problem is None,
            "problem": self.writer.problem,
            "exported_seq": self.writer.exported_seq,
            "buffered": self.writer.buffered(),
        }


def _health_word(health: PeerHealth | None) -> str:
    if health is None or health.up is None:
        return "unknown"
    return "up" if health.up else "down"
