"""Webhooks as hints: wake a polling loop when a delivery that concerns it was queued.

Every daemon of a host shares the host's store, so a delivery that reached any of them (the forge's
webhook points at one URL per host) wakes whichever loop it concerns: the worker of a repository's house,
the reconciler of the mesh repository. A missed hint costs one poll interval, never correctness: the
loops poll anyway.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection

from ..errors import StoreError
from ..store import Store

__all__ = ["QueueHint"]

log = logging.getLogger(__name__)


class QueueHint:
    """Calls ``wake`` when an event for one of ``repos`` (of ``event_types``; any type when empty) was queued
    since the last look."""

    def __init__(
        self,
        store: Store,
        repos: Collection[str],
        wake: Callable[[], None],
        *,
        event_types: Collection[str] = (),
        name: str = "a loop",
        interval: float = 1.0,
    ) -> None:
        self.store, self.repos, self.wake = store, frozenset(repos), wake
        self.event_types, self.name, self.interval = frozenset(event_types), name, interval
        self._seen: int | None = None

    def check(self) -> bool:
        """Whether such an event arrived since the last look (then ``wake`` was called)."""
        if self._seen is None:
            self._seen = int(self.store.query("SELECT coalesce(max(id), 0) FROM event_queue")[0][0])
            return False
        rows = self.store.query(
            "SELECT id, repository, event_type FROM event_queue WHERE id > ? ORDER BY id", (self._seen,)
        )
        if not rows:
            return False
        self._seen = int(rows[-1][0])
        fresh = any(repo in self.repos and (not self.event_types or kind in self.event_types) for _, repo, kind in rows)
        if fresh:
            self.wake()
        return fresh

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                self.check()  # one indexed query: cheap enough for the event loop
            except StoreError as exc:
                log.warning("webhook hint for %s: %s (the poll covers it)", self.name, exc)
            try:
                await asyncio.wait_for(stop.wait(), timeout=self.interval)
            except TimeoutError:
                continue
