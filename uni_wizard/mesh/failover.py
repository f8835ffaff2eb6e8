"""Dispatcher failover: every host with the dispatcher role runs the dispatch loop as a standby under the
forge lease, and the one holding it acts.

    loop = build_dispatch_loop(settings, runtime, intake=intake)   # a ForgeLease when mesh_config is set
    await run_dispatcher(loop, stop)

With a ``ForgeLease`` a ``LeaseKeeper`` keeps the lease beside the loop: it renews it every ``renew_seconds``
while held and reads it every ``standby_poll_seconds`` while not, and wakes the loop the moment it takes the
lease over, so the new holder's first turn (a sweep of the forge's state) starts at once. On a graceful
stop the loop ends first, then the lease is released. Any other ``Lease`` runs ``DispatchLoop.run``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from ..config import Settings
from ..dispatch.lease import Lease, LocalLease
from ..dispatch.loop import DispatchLoop
from ..errors import ConfigError, ForgeError, ForgeUnavailable, MeshError
from ..forge.client import GiteaClient
from ..forge.http import forge_breaker
from ..harness.runtime import Runtime
from ..observe.events import EventLog
from ..roles import role_token
from .config import LeaseSettings, load_mesh_config
from .lease import ForgeLease

__all__ = ["LeaseKeeper", "build_forge_lease", "build_lease", "run_dispatcher"]

log = logging.getLogger(__name__)


def build_lease(settings: Settings, runtime: Runtime) -> Lease:
    """The dispatcher's lease: on the forge when ``mesh_config`` is set, else a ``LocalLease`` (one host)."""
    if settings.mesh_config is None:
        return LocalLease()
    return build_forge_lease(settings, runtime, load_mesh_config(settings.mesh_config).lease)


def build_forge_lease(settings: Settings, runtime: Runtime, lease: LeaseSettings) -> ForgeLease:
    """A ``ForgeLease`` acting as the dispatcher house's forge user, with a client of its own: a short
    timeout (one renew interval), no retries, and a breaker that admits a trial every standby poll."""
    token = role_token(settings, "dispatcher", settings.dispatcher_house)
    if settings.gitea_url is None:  # role_token checked it; this tells mypy
        raise ConfigError("the dispatcher needs gitea_url", key="gitea_url")
    client = GiteaClient(
        settings.gitea_url,
        token,
        registry=runtime.metrics.registry,
        timeout=lease.renew_seconds,
        retries=0,
        breaker=forge_breaker(reset_timeout=lease.standby_poll_seconds, name="forge-lease"),
    )
    return ForgeLease(
        client,
        lease,
        holder=settings.host,
        house=settings.dispatcher_house,
        events=EventLog(runtime.store, settings.host),
        registry=runtime.metrics.registry,
        close=client.aclose,
    )


class LeaseKeeper:
    """Keeps a ``ForgeLease``: renews it while held, polls it while not; ``gained`` is set on each acquisition."""

    def __init__(self, lease: ForgeLease) -> None:
        self.lease = lease
        self.gained = asyncio.Event()
        self._complaint = ""

    async def tick(self) -> bool:
        """One renewal or acquisition attempt; whether the lease is held after it."""
        lease = self.lease
        was_held = lease.held
        try:
            held = await (lease.renew() if was_held else lease.acquire())
        except MeshError as exc:  # needs a person (damaged file, no access): say so once, keep trying
            if str(exc) != self._complaint:
                log.error("%s lease: %s", lease.name, exc)
                self._complaint = str(exc)
            return lease.held
        except (ForgeError, ForgeUnavailable) as exc:
            log.info("%s lease: %s", lease.name, exc)
            return lease.held
        self._complaint = ""
        if held and not was_held:
            self.gained.set()
        return held

    async def run(self, stop: asyncio.Event) -> None:
        settings = self.lease.settings
        while not stop.is_set():
            held = await self.tick()
            interval = self.lease.next_renewal() if held else settings.standby_poll_seconds
            await _wait_first(stop, timeout=interval)


async def run_dispatcher(loop: DispatchLoop, stop: asyncio.Event) -> None:
    """Run the dispatcher until ``stop``: as a standby under a ``ForgeLease``, plainly under any other lease."""
    lease = loop.dispatcher.lease
    if not isinstance(lease, ForgeLease):
        await loop.run(stop)
        return
    keeper = LeaseKeeper(lease)
    keeping = asyncio.create_task(keeper.run(stop), name="lease-keeper")
    poll = loop.dispatcher.config.dispatcher.poll_seconds
    try:
        while not stop.is_set():
            keeper.gained.clear()
            if lease.held:
                try:
                    await loop.run_once()
                except (ForgeError, ForgeUnavailable, MeshError) as exc:
                    log.warning("dispatcher turn failed: %s", exc)
            await _wait_first(stop, keeper.gained, timeout=poll)
    finally:
        keeping.cancel()
        await asyncio.gather(keeping, return_exceptions=True)
        await _uncancellable(_give_up(lease))


async def _give_up(lease: ForgeLease) -> None:
    await lease.release()
    await lease.aclose()


async def _uncancellable(work: Coroutine[Any, Any, None]) -> None:
    """Run ``work`` to its end even if the caller is cancelled meanwhile (a daemon stopping sets ``stop`` and
    cancels its tasks at once: the release must not be cut short; the lease client's timeout bounds it)."""
    task = asyncio.ensure_future(work)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        await task
        raise


async def _wait_first(*events: asyncio.Event, timeout: float) -> None:
    """Until one of ``events`` is set, or ``timeout`` seconds."""
    waiters = [asyncio.create_task(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
