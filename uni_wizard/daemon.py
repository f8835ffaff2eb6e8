"""The daemon: the app on uvicorn, sd_notify (READY, WATCHDOG, STOPPING), clean exit on SIGTERM.

Runs under systemd as ``Type=notify``; outside systemd the notify calls do nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import uvicorn

from .cascade.cascade import Cascade
from .cascade.config import load_cascade_config
from .config import Settings
from .dispatch.config import load_triage_config
from .dispatch.wiring import build_dispatch_loop
from .errors import UniWizardError
from .forge.hints import QueueHint
from .forge.intake import WebhookIntake
from .harness.runtime import Runtime
from .mesh.failover import run_dispatcher
from .mesh.node import MeshNode
from .reconcile.wiring import check_reconciler_settings, serve_reconciler
from .review.wiring import build_reviewer, run_reviewer
from .sdnotify import notify, watchdog_interval, watchdog_pings
from .upgrade.wiring import upgrade_records
from .web.app import create_app
from .web.cascade_routes import cascade_router
from .web.mesh_routes import mesh_router
from .web.upgrades_routes import upgrades_router
from .work.wiring import build_worker

__all__ = ["notify", "serve"]

log = logging.getLogger(__name__)


def _reload_houses(runtime: Runtime) -> None:
    """SIGHUP (``systemctl reload``, the reconciler): re-read the house policies without a restart."""
    try:
        runtime.reload_houses()
        log.info("houses reloaded: %s", ", ".join(sorted(runtime.houses)))
    except UniWizardError as exc:
        log.error("houses not reloaded, the policies in force stay: %s", exc)


def _status(settings: Settings) -> str:
    roles = ", ".join(settings.roles) or "no roles"
    return f"serving on {settings.bind}:{settings.port} ({roles})"


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


async def serve(settings: Settings, *, runtime: Runtime | None = None) -> None:
    """Serve until SIGTERM or SIGINT; in-flight requests get a second to finish. Each role of ``settings.roles``
    runs as a background task; everything opened is closed in reverse order on the way out."""
    runtime = runtime or Runtime(settings)
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []

    def start(work: Coroutine[Any, Any, None], name: str) -> None:
        tasks.append(asyncio.create_task(work, name=name))

    async with contextlib.AsyncExitStack() as closing:
        closing.callback(runtime.close)
        cascade = Cascade.from_config(load_cascade_config(settings.cascade_config), registry=runtime.metrics.registry)
        closing.push_async_callback(cascade.aclose)
        mesh_node = None
        if settings.mesh_config is not None:  # peers, heartbeats, Syncthing spool (uni_wizard/mesh/node.py)
            mesh_node = MeshNode.from_settings(settings, runtime)
            mesh_node.register_metrics(runtime.metrics.registry)
            closing.push_async_callback(mesh_node.aclose)
        app = create_app(
            runtime,
            api_token=settings.secret("api_token"),
            webhook_secret=settings.secret("webhook_secret"),
            routers=[
                *([mesh_router(mesh_node.view)] if mesh_node else []),
                upgrades_router(upgrade_records(runtime), api_token=settings.secret("api_token")),
                cascade_router(cascade),
            ],
            readiness={"cascade": cascade.readiness, **({"mesh": mesh_node.readiness} if mesh_node else {})},
        )
        config = uvicorn.Config(
            app,
            host=settings.bind,
            port=settings.port,
            log_level=settings.log_level.lower(),
            timeout_graceful_shutdown=1,
            lifespan="off",
            access_log=False,
        )
        server = _Server(config)
        server.status = _status(settings)
        interval = watchdog_interval()
        if interval:
            start(watchdog_pings(interval, lambda: server.status), "watchdog")
        start(cascade.run_health_probes(stop), "cascade-health")
        if mesh_node is not None:
            start(mesh_node.run(stop), "mesh")
            log.info("mesh: probing %d peers; syncthing %s", len(mesh_node.prober.peers), mesh_node.monitor is not None)
        _start_roles(settings, runtime, app.state.intake, cascade, stop, start, closing)
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # not the main thread: no SIGHUP
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, _reload_houses, runtime)
        try:
            await server.serve()
        finally:
            stop.set()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    log.info("stopped")


def _start_roles(
    settings: Settings,
    runtime: Runtime,
    intake: WebhookIntake | None,
    cascade: Cascade,
    stop: asyncio.Event,
    start: Callable[[Coroutine[Any, Any, None], str], None],
    closing: contextlib.AsyncExitStack,
) -> None:
    """Build each role of ``settings.roles`` and ``start`` its loop; its forge client closes with ``closing``."""
    if "dispatcher" in settings.roles:
        loop = build_dispatch_loop(settings, runtime, intake=intake, model=cascade)
        closing.push_async_callback(loop.forge.aclose)
        start(run_dispatcher(loop, stop), "dispatcher")
        lease_kind = type(loop.dispatcher.lease).__name__
        log.info("dispatcher role: watching %s (lease: %s)", ", ".join(loop.repos), lease_kind)
    if "worker" in settings.roles:
        worker = build_worker(settings, runtime, model=cascade)  # the agent loop only with `planner: model`
        closing.push_async_callback(worker.forge.aclose)
        start(worker.run(stop), "worker")
        hint = QueueHint(runtime.store, worker.repos, worker.hint, name=f"the {worker.house} worker")
        start(hint.run(stop), "worker-hint")
        log.info("worker role: %s on %s", worker.house, ", ".join(worker.repos))
    if "reviewer" in settings.roles:
        reviewer = build_reviewer(settings, runtime)
        closing.push_async_callback(reviewer.forge.aclose)
        poll = load_triage_config(settings.triage_config).dispatcher.poll_seconds
        start(run_reviewer(reviewer, stop, poll), "reviewer")
        log.info("reviewer role: %s on %s", reviewer.house, ", ".join(reviewer.repos))
    if "reconciler" in settings.roles:
        check_reconciler_settings(settings)  # a bad mesh.yaml stops the start, not a background task
        start(serve_reconciler(settings, runtime, stop), "reconciler")
        log.info("reconciler role: releases under %s, configuration in %s", settings.release_root, settings.config_dir)
