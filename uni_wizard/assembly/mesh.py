"""This host's part of the mesh from its settings (``configs/mesh.yaml``): the daemon runs it, ``uni-wizard
mesh status`` takes one look with it.

Peer probes always; the lease view where the lease lives: the forge's lease file with a mesh file (when
``gitea_url`` and ``gitea_token`` are set), this host's store without one (a mesh of one); with a
``syncthing`` section, the Syncthing monitor and the spool writer and reader (which imports peers'
``house.outcome`` events into this host's routing history). ``looked_at`` takes the CLI's one read-only look
(``mesh status``, ``telemetry --status``, ``houses --now``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
from pydantic import ValidationError

from ..config import Settings
from ..dispatch.history import RoutingLedger
from ..errors import ConfigError
from ..forge.client import GiteaClient
from ..harness.runtime import Runtime
from ..mesh.exporter import SyncthingMonitor
from ..mesh.node import MeshNode, report_conflict
from ..mesh.outcomes import OutcomeImporter
from ..mesh.peers import PeerProber, peer_events
from ..mesh.spool import SpoolWriter
from ..mesh.spool_files import JsonState
from ..mesh.spool_reader import SpoolReader
from ..mesh.status import LeaseWatch, forge_lease_reader, store_lease_reader
from ..mesh.syncthing import SyncthingClient
from ..meshfile.schema import HostEntry, MeshConfig, SyncthingSettings
from ..observe.events import EventLog
from .configs import Configs

__all__ = ["build_mesh_node", "looked_at", "mesh_of_one"]

Clock = Callable[[], float]


def build_mesh_node(
    settings: Settings,
    runtime: Runtime,
    *,
    configs: Configs | None = None,
    mesh: MeshConfig | None = None,
    syncthing_transport: httpx.AsyncBaseTransport | None = None,
    peer_transport: httpx.AsyncBaseTransport | None = None,
    forge: GiteaClient | None = None,
    clock: Clock = time.time,
    log_peers: bool = True,
) -> MeshNode:
    """The node of ``settings.host`` in ``mesh`` (default: the mesh file of ``configs``); a ``ConfigError``
    names what is missing (e.g. Syncthing's API key). ``node.aclose()`` closes what was opened here.
    ``log_peers``: peers joining and leaving are events in this host's log (its store is opened at the first)."""
    if mesh is None:
        mesh = (configs or Configs(settings)).mesh if settings.mesh_config is not None else mesh_of_one(settings)
    host = settings.host
    joins = peer_events(lambda: EventLog(runtime.store, host), clock=clock) if log_peers else None
    prober = PeerProber(mesh.peers_of(host), mesh.peers, transport=peer_transport, clock=clock, on_change=joins)
    closers: list[Callable[[], Any]] = [prober.aclose]
    if settings.mesh_config is None and forge is None:  # a mesh of one: the lease lives in this host's store
        lease = LeaseWatch(store_lease_reader(runtime.store), where="this host's store", clock=clock)
    else:
        token = settings.secret("gitea_token")
        if forge is None and settings.gitea_url and token:
            forge = GiteaClient(settings.gitea_url, token, registry=runtime.metrics.registry, retries=0)
            closers.append(forge.aclose)
        where = f"the forge: {mesh.lease.repo}@{mesh.lease.branch}:{mesh.lease.path}"
        lease = LeaseWatch(forge_lease_reader(forge, mesh.lease) if forge else None, where=where, clock=clock)
    if mesh.syncthing is None:
        return MeshNode(mesh, host, prober=prober, lease=lease, closers=tuple(closers), clock=clock)
    client = SyncthingClient(
        mesh.syncthing.url, _api_key(settings), transport=syncthing_transport, timeout=mesh.peers.timeout_seconds
    )
    closers.append(client.aclose)
    monitor = SyncthingMonitor(client, mesh.syncthing.folder_id, clock=clock)
    writer, reader = _spool(settings, runtime, mesh, mesh.syncthing, monitor, lease, clock)
    return MeshNode(
        mesh, host, prober=prober, lease=lease, monitor=monitor, writer=writer, reader=reader,
        closers=tuple(closers), clock=clock,
    )  # fmt: skip


@contextlib.asynccontextmanager
async def looked_at(settings: Settings, runtime: Runtime) -> AsyncIterator[MeshNode]:
    """This host's node after one read-only look: every host's ``/health`` probed (this one included), the lease
    read, Syncthing asked, the heartbeats in the shared folder and the spool's cursor read; nothing is written.
    The node's clients close when the block ends."""
    node = build_mesh_node(settings, runtime, log_peers=False)  # a look writes nothing
    me = node.mesh.host(settings.host)
    own = PeerProber((me,), node.mesh.peers) if me else None
    try:
        jobs: list[Any] = [node.prober.probe_once(), node.lease.refresh()]
        if own is not None:
            jobs.append(own.probe_once())
        if node.monitor is not None:
            jobs.append(node.monitor.refresh())
        await asyncio.gather(*jobs)
        if node.reader is not None:
            await asyncio.to_thread(node.reader.heartbeats_only)
        if node.writer is not None:
            await asyncio.to_thread(node.writer.look)
        if own is not None and me is not None:
            node.view.self_health = lambda: own.results.get(me.name)
        yield node
    finally:
        if own is not None:
            await own.aclose()
        await node.aclose()


def mesh_of_one(settings: Settings) -> MeshConfig:
    """Without a mesh file: this host alone, as its settings describe it (its daemon's URL, house and roles)."""
    address = "127.0.0.1" if settings.bind in ("0.0.0.0", "::", "") else settings.bind  # noqa: S104
    url = f"http://{f'[{address}]' if ':' in address else address}:{settings.port}"
    houses = (settings.house,) if settings.house else ()
    try:
        me = HostEntry(name=settings.host, url=url, houses=houses, roles=settings.roles)
    except ValidationError:  # a host name that a mesh file could not hold: the mesh of one without its row
        return MeshConfig()
    return MeshConfig(hosts=(me,))


def _api_key(settings: Settings) -> str:
    """Syncthing's REST API key, which a mesh with a ``syncthing`` section needs."""
    key = settings.secret("syncthing_api_key")
    if not key:
        raise ConfigError(
            f"{settings.mesh_config or 'the mesh config'} configures Syncthing, but no API key is set: "
            "set syncthing_api_key_file (or UNIWIZARD_SYNCTHING_API_KEY) to Syncthing's <gui><apikey>",
            key="syncthing_api_key",
        )
    return key


def _spool(
    settings: Settings,
    runtime: Runtime,
    mesh: MeshConfig,
    st: SyncthingSettings,
    monitor: SyncthingMonitor,
    lease: LeaseWatch,
    clock: Clock,
) -> tuple[SpoolWriter, SpoolReader]:
    """The spool writer (this host's heartbeat and telemetry) and reader (every host's) of the shared folder."""
    host, me = settings.host, mesh.host(settings.host)
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
        on_conflict=lambda path: report_conflict(events, st.folder_path, path),
        clock=clock,
    )
    return writer, reader
