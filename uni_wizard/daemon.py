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
from collections.abc import Iterator

import uvicorn

from .config import Settings
from .harness.runtime import Runtime
from .web.app import create_app

__all__ = ["notify", "serve"]

log = logging.getLogger(__name__)


def notify(message: str) -> bool:
    """Send ``message`` to systemd's notify socket; False when not under systemd."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.connect(address)
        sock.sendall(message.encode())
    return True


async def _watchdog(interval: float) -> None:
    while True:
        notify("WATCHDOG=1")
        await asyncio.sleep(interval)


class _Server(uvicorn.Server):
    """uvicorn, plus systemd notifications at start and stop."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        notify(f"READY=1\nSTATUS=serving on {self.config.host}:{self.config.port}\nMAINPID={os.getpid()}")

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        notify("STOPPING=1")
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
    """Serve until SIGTERM or SIGINT; in-flight requests get a second to finish."""
    runtime = runtime or Runtime(settings)
    app = create_app(runtime, api_token=settings.secret("api_token"), webhook_secret=settings.secret("webhook_secret"))
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
    watchdog_usec = int(os.environ.get("WATCHDOG_USEC", "0") or 0)
    background = [asyncio.create_task(_watchdog(watchdog_usec / 2e6))] if watchdog_usec else []
    stop = asyncio.Event()
    loop = None
    if "dispatcher" in settings.roles:
        from .dispatch.wiring import build_dispatch_loop

        loop = build_dispatch_loop(settings, runtime, intake=app.state.intake)
        background.append(asyncio.create_task(loop.run(stop), name="dispatcher"))
        log.info("dispatcher role: watching %s", ", ".join(loop.repos))
    worker = None
    if "worker" in settings.roles:
        from .work.wiring import QueueHint, build_worker

        worker = build_worker(settings, runtime)
        background.append(asyncio.create_task(worker.run(stop), name="worker"))
        background.append(asyncio.create_task(QueueHint(runtime.store, worker).run(stop), name="worker-hint"))
        log.info("worker role: %s on %s", worker.house, ", ".join(worker.repos))
    reviewer = None
    if "reviewer" in settings.roles:
        from .dispatch.config import load_triage_config
        from .review.wiring import build_reviewer, run_reviewer

        reviewer = build_reviewer(settings, runtime)
        poll = load_triage_config(settings.triage_config).dispatcher.poll_seconds
        background.append(asyncio.create_task(run_reviewer(reviewer, stop, poll), name="reviewer"))
        log.info("reviewer role: %s on %s", reviewer.house, ", ".join(reviewer.repos))
    try:
        await server.serve()
    finally:
        stop.set()
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        if loop is not None:
            await loop.forge.aclose()
        if worker is not None:
            await worker.forge.aclose()
        if reviewer is not None:
            await reviewer.forge.aclose()
        runtime.close()
        log.info("stopped")
