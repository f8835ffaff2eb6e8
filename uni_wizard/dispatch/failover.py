"""Dispatcher failover: every host with the dispatcher role runs the dispatch loop as a standby under the
forge lease, and the one holding it acts.

    loop = build_dispatch_loop(settings, runtime, intake=intake)   # assembly: a ForgeLease with mesh_config
    await run_dispatcher(loop, stop)

With a ``ForgeLease`` a ``LeaseKeeper`` keeps the lease beside the loop: it renews it every ``renew_seconds``
while held and reads it every ``standby_poll_seconds`` while not, and wakes the loop the moment it takes the
lease over, so the new holder's first turn (a sweep of the forge's state) starts at once. On a graceful
stop the loop ends first, then the lease is released. Any other ``Lease`` runs ``DispatchLoop.run``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from typing import Any

from ..errors import ForgeError, ForgeUnavailable, MeshError
from .forge_lease import ForgeLease
from .loop import DispatchLoop

__all__ = ["LeaseKeeper", "run_dispatcher"]

log = logging.getLogger(__name__)


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
    sweep_at = 0.0  # the first turn as holder sweeps; later ones between sweeps only consume the webhook queue
    try:
        while not stop.is_set():
            keeper.gained.clear()
            if not lease.held:  # a standby: wait for the lease (or the poll, to look again)
                await _wait_first(stop, keeper.gained, timeout=poll)
                sweep_at = 0.0
                continue
            sweep = time.monotonic() >= sweep_at
            try:
                await loop.run_once(sweep=sweep)
            except (ForgeError, ForgeUnavailable, MeshError) as exc:
                log.warning("dispatcher turn failed: %s", exc)
            if sweep:
                sweep_at = time.monotonic() + poll
            await loop.pause(stop, max(0.0, sweep_at - time.monotonic()))  # a queued webhook event ends it early
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
