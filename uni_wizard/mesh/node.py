"""This host's part of the mesh: peer probes, the lease view, and with Syncthing the monitor, the spool writer
and reader (which imports peers' ``house.outcome`` events into this host's routing history, ``outcomes.py``).
The daemon runs it; the CLI takes one look with it. ``assembly.mesh.build_mesh_node`` builds it from settings.

    node = build_mesh_node(settings, runtime)
    node.register_metrics(runtime.metrics.registry)
    await node.run(stop)                 # background loops until stop is set
    node.view.snapshot()                 # GET /api/v1/mesh
    node.readiness()                     # the "mesh" component of /ready
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from ..errors import EventRejected, StoreError, UniWizardError
from ..meshfile.schema import MeshConfig
from ..observe.events import MAX_KEY_CHARS, EventLog
from .exporter import SpoolCollector, SyncthingCollector, SyncthingMonitor
from .peers import PeerCollector, PeerHealth, PeerProber
from .spool import SpoolWriter
from .spool_reader import SpoolReader
from .status import LeaseWatch, MeshView

__all__ = ["CONFLICT_EVENT", "MeshNode", "report_conflict"]

log = logging.getLogger(__name__)

CONFLICT_EVENT = "syncthing.conflict"


class MeshNode:
    """The mesh components of one host, each passed in (``assembly.mesh.build_mesh_node`` builds them from the
    settings); ``closers`` are called by ``aclose``."""

    def __init__(
        self,
        mesh: MeshConfig,
        host: str,
        *,
        prober: PeerProber,
        lease: LeaseWatch,
        monitor: SyncthingMonitor | None = None,
        writer: SpoolWriter | None = None,
        reader: SpoolReader | None = None,
        closers: tuple[Callable[[], Any], ...] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.mesh = mesh
        self.host = host
        self.prober = prober
        self.lease = lease
        self.monitor = monitor
        self.writer = writer
        self.reader = reader
        self._closers = closers
        self.view = MeshView(
            mesh,
            host,
            prober=prober,
            lease=lease,
            writer=writer,
            reader=reader,
            monitor=monitor,
            self_health=lambda: PeerHealth(host, "", up=True),
            clock=clock,
        )

    # -- running -----------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Probe peers, watch the lease, and with Syncthing poll it and run the spool, until ``stop`` is set."""
        loops = [self.prober.run(stop), self.lease.run(stop, self.mesh.peers.probe_seconds)]
        st = self.mesh.syncthing
        if st is not None and self.monitor is not None:
            await self.monitor.refresh()  # the writer's first tick needs to know whether Syncthing is there
            loops.append(self.monitor.run(stop, st.read_seconds))
            loops.append(self._every(stop, st.heartbeat_seconds, self._write))
            loops.append(self._every(stop, st.read_seconds, self._read))
        await asyncio.gather(*loops)

    async def _every(self, stop: asyncio.Event, seconds: float, step: Callable[[], None]) -> None:
        while not stop.is_set():
            try:
                await asyncio.to_thread(step)
            except (OSError, UniWizardError) as exc:  # e.g. the data directory is full: try again next tick
                log.error("mesh %s failed: %s", getattr(step, "__name__", "step").strip("_"), exc)
            try:
                await asyncio.wait_for(stop.wait(), timeout=seconds)
            except TimeoutError:
                continue

    def _write(self) -> None:
        if self.writer is not None:
            self.writer.tick()

    def _read(self) -> None:
        if self.reader is not None:
            self.reader.read_once()

    async def aclose(self) -> None:
        for close in self._closers:
            await close()

    # -- reporting ---------------------------------------------------------------
    def register_metrics(self, registry: CollectorRegistry) -> None:
        """The mesh's collectors on ``registry`` (read at scrape time)."""
        reader = self.reader
        registry.register(PeerCollector(self.prober, (lambda: reader.heartbeats) if reader else dict))
        if self.monitor is not None and self.mesh.syncthing is not None:
            registry.register(SyncthingCollector(self.monitor, self.mesh.syncthing.folder_id))
        if self.writer is not None and self.reader is not None:
            registry.register(SpoolCollector(self.writer, self.reader))

    def readiness(self) -> dict[str, Any]:
        """The ``mesh`` component of ``/ready``: ready unless a configured Syncthing folder cannot take writes."""
        peers = {name: h.up for name, h in self.prober.results.items()}
        if self.writer is None or self.monitor is None:
            return {"ready": True, "syncthing": "not configured", "heartbeats": "http", "peers_up": peers}
        problem = self.writer.problem
        return {
            "ready": problem is None,
            "syncthing": "ok" if problem is None else problem,
            "heartbeats": "syncthing",
            "telemetry_buffered": self.writer.buffered(),
            "conflicts": len(self.reader.conflicts) if self.reader else 0,
            "peers_up": peers,
        }


def report_conflict(events: EventLog, root: Path, path: str) -> None:
    """Log a ``syncthing.conflict`` event once per conflict file (its key is the path)."""
    key = f"{CONFLICT_EVENT}:{path}"
    if len(key) > MAX_KEY_CHARS:
        key = f"{CONFLICT_EVENT}:sha256:{hashlib.sha256(path.encode()).hexdigest()}"
    try:
        events.emit_sync(CONFLICT_EVENT, key, data={"path": path, "folder": str(root)})
    except (EventRejected, StoreError) as exc:
        log.error("cannot log the conflict file %s: %s", path, exc)
