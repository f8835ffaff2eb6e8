"""The reconciler's loop: reconcile, then wait ``poll_seconds`` ± jitter (or until a push hint), until stopped."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable

from ..errors import UniWizardError
from .reconciler import Reconciler

__all__ = ["PUSH_HINTS", "next_wait", "run_reconciler"]

# Webhook events that may mean a new merge on the mesh repository: they wake the poll early.
PUSH_HINTS = ("push", "pull_request")

log = logging.getLogger(__name__)


def next_wait(poll: float, jitter: float, rng: Callable[[], float] = random.random) -> float:
    """``poll`` times a factor drawn uniformly from [1 - jitter, 1 + jitter)."""
    return poll * (1 - jitter + 2 * jitter * rng())


async def run_reconciler(reconciler: Reconciler, stop: asyncio.Event, wake: asyncio.Event | None = None) -> None:
    """Reconcile, then wait ``poll_seconds`` ± jitter (or until ``wake``, a push hint), until ``stop``."""
    wake = wake or asyncio.Event()
    while not stop.is_set():
        try:
            outcome = await reconciler.reconcile_once()
            reconciler.metrics.polls.labels(outcome="ok").inc()
            if outcome.outcome not in ("idle", "busy"):
                log.info("reconcile %s: %s #%d %s", outcome.outcome, outcome.sha[:12], outcome.number, outcome.reason)
        except UniWizardError as exc:
            reconciler.metrics.polls.labels(outcome="error").inc()
            log.warning("reconcile pass failed: %s: %s", type(exc).__name__, exc)
        wait = next_wait(reconciler.settings.poll_seconds, reconciler.settings.jitter)
        waiters = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())}
        _, pending = await asyncio.wait(waiters, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        wake.clear()
