"""The daemon: the app on uvicorn, sd_notify (READY, WATCHDOG, STOPPING), clean exit on SIGTERM.

Runs under systemd as ``Type=notify``; outside systemd the notify calls do nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import logging
import os
import signal
import socket
import threading
from collections.abc import Coroutine, Iterator
from typing import Any

import uvicorn
from fastapi import FastAPI

from .assembly.attention import error_capture, supervised, thresholds_now
from .assembly.configs import Configs
from .assembly.dashboard import now_taker, upgrade_decider
from .assembly.houses import check_houses
from .assembly.mesh import build_mesh_node
from .assembly.roles import check_roles, start_roles
from .assembly.upgrades import upgrade_records
from .attention import ErrorCapture
from .cascade.cascade import Cascade
from .cascade.config import CascadeConfig
from .config import Settings
from .errors import ConfigError, UniWizardError
from .harness.runtime import Runtime
from .mesh.node import MeshNode
from .sdnotify import notify, watchdog_interval, watchdog_pings
from .upgrade.records import UpgradeStore
from .web.app import create_app
from .web.cascade_routes import cascade_router
from .web.mesh_routes import mesh_router
from .web.pages import Dashboard
from .web.upgrades_routes import upgrades_router

__all__ = ["listen", "notify", "preflight", "serve"]

log = logging.getLogger(__name__)
MAX_CONNECTIONS = 512


def _reload_houses(runtime: Runtime) -> None:
    """SIGHUP (``systemctl reload``, the reconciler): re-read the house policies without a restart."""
    try:
        runtime.reload_houses()
        log.info("houses reloaded: %s", ", ".join(sorted(runtime.houses)))
    except UniWizardError as exc:
        log.error("houses not reloaded, the policies in force stay: %s", exc)


def _status(settings: Settings, sockets: list[socket.socket]) -> str:
    roles = ", ".join(settings.roles) or "no roles"
    port = sockets[0].getsockname()[1] if sockets else settings.port  # the port chosen for `port: 0`
    return f"serving on {settings.bind}:{port} ({roles})"


class _Server(uvicorn.Server):
    """uvicorn, plus systemd notifications at start and stop."""

    status = "starting"

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        notify(f"READY=1\nSTATUS={self.status}\nMAINPID={os.getpid()}")

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        notify("STOPPING=1\nSTATUS=stopping")
        await super().shutdown(sockets)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # uvicorn re-raises the caught signal once it has shut down (exit 143); a daemon that
        # stopped cleanly on SIGTERM exits 0 and runs its own clean-up first.
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        original = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)


def preflight(settings: Settings, runtime: Runtime, configs: Configs | None = None) -> CascadeConfig:
    """Every configuration mistake the daemon can find before it opens or writes anything, as one ``ConfigError``:
    the data directory, the secrets, the house files, the cascade and mesh files, each role's settings. The
    files are loaded into ``configs``, which the roles are then built from."""
    configs = configs or Configs(settings)
    settings.check_data_dir()
    settings.check_secrets()
    check_houses(settings, runtime)
    cascade_config = configs.cascade
    configs.mesh  # noqa: B018 - loads and validates the file
    check_roles(settings, runtime, configs)
    return cascade_config


def listen(settings: Settings) -> list[socket.socket]:
    """The daemon's listening sockets on ``bind``:``port``, bound now: a busy port or an address this host does
    not have is a ``ConfigError`` naming the key, before anything is opened or written."""
    try:
        infos = socket.getaddrinfo(
            settings.bind or None, settings.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except (socket.gaierror, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else str(exc)
        raise ConfigError(
            f"cannot resolve {settings.bind!r}: {reason}", source=settings.origin("bind"), key="bind"
        ) from None
    sockets: list[socket.socket] = []
    unique = {(info[0], info[4]): info for info in infos}.values()  # one socket per family and address
    for family, kind, proto, _, address in unique:
        sock = socket.socket(family, kind, proto)
        sockets.append(sock)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            for opened in sockets:
                opened.close()
            key = "port" if exc.errno in (errno.EADDRINUSE, errno.EACCES) else "bind"
            where = f"{settings.bind}:{settings.port}"
            raise ConfigError(
                f"cannot listen on {where}: {exc.strerror}", source=settings.origin(key), key=key
            ) from None
        sock.setblocking(False)
    return sockets


async def serve(settings: Settings, *, runtime: Runtime | None = None) -> None:
    """Serve until SIGTERM or SIGINT; in-flight requests get a second to finish. Each role of ``settings.roles``
    runs as a background task; everything opened is closed in reverse order on the way out. A configuration
    mistake raises ``ConfigError`` before anything is opened, listened on or written (``preflight``)."""
    runtime = runtime or Runtime(settings)
    configs = Configs(settings)
    cascade_config = preflight(settings, runtime, configs)
    async with contextlib.AsyncExitStack() as closing:
        closing.callback(runtime.close)
        # reads the providers' API keys: a missing or empty one is a ConfigError
        cascade = Cascade.from_config(cascade_config, registry=runtime.metrics.registry)
        closing.push_async_callback(cascade.aclose)
        sockets = listen(settings)
        for sock in sockets:
            closing.callback(sock.close)
        stop = asyncio.Event()
        tasks: list[asyncio.Task[None]] = []
        try:
            await _run(settings, runtime, configs, cascade, sockets, closing, stop, tasks)
        finally:  # every task ends before what it uses is closed
            stop.set()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    log.info("stopped")


def _dashboard(
    settings: Settings,
    runtime: Runtime,
    configs: Configs,
    cascade: Cascade,
    mesh_node: MeshNode,
    records: UpgradeStore,
    *,
    meshed: bool,
) -> Dashboard:
    """What the dashboard's pages show (``web/pages/``), from the daemon's own parts."""

    async def mesh() -> dict[str, Any]:
        if not meshed:
            await mesh_node.lease.refresh()
        return mesh_node.view.snapshot()

    return Dashboard(
        runtime,
        owner=settings.owner,
        forge_url=settings.gitea_url,
        now=now_taker(settings, runtime, node=mesh_node, cascade=cascade, refresh_lease=not meshed),
        cascade=cascade.status,
        mesh=mesh,
        upgrades=records,
        decide_upgrade=upgrade_decider(settings, runtime, configs=configs),
        escalations=thresholds_now(settings, runtime),
    )


def _app(
    settings: Settings, runtime: Runtime, configs: Configs, cascade: Cascade, mesh_node: MeshNode, *, meshed: bool
) -> FastAPI:
    """The daemon's app: the API, the components' routers and probes, the dashboard's pages."""
    records = upgrade_records(runtime)
    return create_app(
        runtime,
        api_token=settings.secret("api_token"),
        webhook_secret=settings.secret("webhook_secret"),
        routers=[
            mesh_router(mesh_node.view, refresh=None if meshed else mesh_node.lease.refresh),
            upgrades_router(records, api_token=settings.secret("api_token")),
            cascade_router(cascade),
        ],
        readiness={"cascade": cascade.readiness, **({"mesh": mesh_node.readiness} if meshed else {})},
        viewer_token=settings.secret("viewer_token"),
        dashboard=_dashboard(settings, runtime, configs, cascade, mesh_node, records, meshed=meshed),
    )


async def _run(
    settings: Settings,
    runtime: Runtime,
    configs: Configs,
    cascade: Cascade,
    sockets: list[socket.socket],
    closing: contextlib.AsyncExitStack,
    stop: asyncio.Event,
    tasks: list[asyncio.Task[None]],
) -> None:
    """Open what the daemon uses (closed by ``closing``), start its tasks (into ``tasks``) and serve on
    ``sockets`` until the server stops."""

    captures: list[ErrorCapture] = []  # made once the mesh node is built: a mistake before writes no store

    def start(work: Coroutine[Any, Any, None], name: str) -> None:
        tasks.append(asyncio.create_task(supervised(work, name, captures[0] if captures else None), name=name))

    # peers, heartbeats, Syncthing spool (uni_wizard/mesh/node.py); without a mesh file, a mesh of one: this
    # host's row and the lease in its store, for GET /api/v1/mesh only
    meshed = settings.mesh_config is not None
    mesh_node = build_mesh_node(settings, runtime, configs=configs)
    closing.push_async_callback(mesh_node.aclose)
    if meshed:
        mesh_node.register_metrics(runtime.metrics.registry)
    app = _app(settings, runtime, configs, cascade, mesh_node, meshed=meshed)
    capture = error_capture(settings, runtime, configs, closing=closing)
    if capture is not None:  # an unexpected exception in a task becomes a forge issue (uni_wizard/attention/)
        captures.append(capture)
        start(capture.run(stop), "error-capture")
    config = uvicorn.Config(
        app,
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=1,
        lifespan="off",
        access_log=False,
        # connections and requests at once: beyond it a client gets 503, so clients that never finish
        # their headers cannot take the daemon's memory (the watchdog pings do not go through HTTP)
        limit_concurrency=MAX_CONNECTIONS,
    )
    server = _Server(config)
    server.status = _status(settings, sockets)
    reviewer = start_roles(
        settings, runtime, configs, intake=app.state.intake, cascade=cascade, stop=stop, start=start, closing=closing
    )
    if reviewer is not None:  # the Now page shows the merge queue as the reviewer's last merge pass found it
        app.state.dashboard = dataclasses.replace(app.state.dashboard, merge_queue=lambda: reviewer.journal.queue_lines)
    interval = watchdog_interval()
    if interval:
        start(watchdog_pings(interval, lambda: server.status), "watchdog")
    start(cascade.run_health_probes(stop), "cascade-health")
    if meshed:
        start(mesh_node.run(stop), "mesh")
        log.info("mesh: probing %d peers; syncthing %s", len(mesh_node.prober.peers), mesh_node.monitor is not None)
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # not the main thread: no SIGHUP
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, _reload_houses, runtime)
    log.info("%s", server.status)
    await server.serve(sockets=sockets)
