"""This host's part of the mesh, built from settings: peer probes, the lease view, and with Syncthing the
monitor, the spool writer and reader (which imports peers' ``house.outcome`` events into this host's routing
history, ``outcomes.py``). The daemon runs it; the CLI takes one look with it.

    node = MeshNode.from_settings(settings, runtime)
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

import httpx
from prometheus_client import CollectorRegistry

from ..config import Settings
from ..dispatch.history import RoutingLedger
from ..errors import ConfigError, EventRejected, StoreError, UniWizardError
from ..forge.client import GiteaClient
from ..harness.runtime import Runtime
from ..observe.events import MAX_KEY_CHARS, EventLog
from .config import MeshConfig, load_mesh_config
from .exporter import SpoolCollector, SyncthingCollector, SyncthingMonitor
from .outcomes import OutcomeImporter
from .peers import PeerCollector, PeerHealth, PeerProber
from .spool import SpoolWriter
from .spool_files import JsonState
from .spool_reader import SpoolReader
from .status import LeaseWatch, MeshView, forge_lease_reader
from .syncthing import SyncthingClient

__all__ = ["CONFLICT_EVENT", "MeshNode"]

log = logging.getLogger(__name__)

CONFLICT_EVENT = "syncthing.conflict"


class MeshNode:
    """The mesh components of one host; every part can be passed in (tests), ``from_settings`` builds them."""

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

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        runtime: Runtime,
        *,
        mesh: MeshConfig | None = None,
        syncthing_transport: httpx.AsyncBaseTransport | None = None,
        peer_transport: httpx.AsyncBaseTransport | None = None,
        forge: GiteaClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> MeshNode:
        """Build from ``settings.mesh_config``; a ``ConfigError`` names what is missing (e.g. the API key)."""
        mesh = mesh or load_mesh_config(settings.mesh_config)
        host = settings.host
        prober = PeerProber(mesh.peers_of(host), mesh.peers, transport=peer_transport, clock=clock)
        closers: list[Callable[[], Any]] = [prober.aclose]
        token = settings.secret("gitea_token")
        if forge is None and settings.gitea_url and token:
            forge = GiteaClient(settings.gitea_url, token, registry=runtime.metrics.registry, retries=0)
            closers.append(forge.aclose)
        lease = LeaseWatch(forge_lease_reader(forge, mesh.lease) if forge else None, clock=clock)
        if mesh.syncthing is None:
            return cls(mesh, host, prober=prober, lease=lease, closers=tuple(closers), clock=clock)
        key = settings.secret("syncthing_api_key")
        if not key:
            raise ConfigError(
                f"{settings.mesh_config or 'the mesh config'} configures Syncthing, but no API key is set: "
                "set syncthing_api_key_file (or UNIWIZARD_SYNCTHING_API_KEY) to Syncthing's <gui><apikey>",
                key="syncthing_api_key",
            )
        st = mesh.syncthing
        client = SyncthingClient(st.url, key, transport=syncthing_transport, timeout=mesh.peers.timeout_seconds)
        closers.append(client.aclose)
        monitor = SyncthingMonitor(client, st.folder_id, clock=clock)
        me = mesh.host(host)
        events = EventLog(runtime.store, host)
        state_dir = settings.data_dir / "mesh"
        writer = SpoolWriter(
            st.folder_path,
            host,
            events,
            JsonState(state_dir / "spool-writer.json"),
            houses=me.houses if me else tuple(h for h in (settings.house,) if h),
            roles=me.roles if me else settings.roles,
            syncthing_problem=monitor.problem,
            lease_view=lease.view,
            device_id=lambda: monitor.snapshot.my_id or None,
            clock=clock,
        )
        reader = SpoolReader(
            st.folder_path,
            host,
            [h.name for h in mesh.hosts],
            JsonState(state_dir / "spool-reader.json"),
            on_event=OutcomeImporter(RoutingLedger(runtime.store, host=host, clock=clock)),  # peers' outcomes
            on_conflict=lambda path: _report_conflict(events, st.folder_path, path),
            clock=clock,
        )
        return cls(
            mesh,
            host,
            prober=prober,
            lease=lease,
            monitor=monitor,
            writer=writer,
            reader=reader,
            closers=tuple(closers),
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


def _report_conflict(events: EventLog, root: Path, path: str) -> None:
    """Log a ``syncthing.conflict`` event once per conflict file (its key is the path)."""
    key = f"{CONFLICT_EVENT}:{path}"
    if len(key) > MAX_KEY_CHARS:
        key = f"{CONFLICT_EVENT}:sha256:{hashlib.sha256(path.encode()).hexdigest()}"
    try:
        events.emit_sync(CONFLICT_EVENT, key, data={"path": path, "folder": str(root)})
    except (EventRejected, StoreError) as exc:
        log.error("cannot log the conflict file %s: %s", path, exc)
