"""How the reviewer does several things at once: a bounded pool of reviews, and locks by key.

``ReviewPool.run`` awaits every job with at most ``limit`` in flight and returns their results in the order the
jobs were given; a job that raises does not cancel the others (they all finish first, then the first exception
is raised again, as one review's bug ended a pass before the reviews ran side by side). ``in_flight`` and
``peak`` say how many jobs run now and at most (what a test observes; nothing reads them to decide).

``KeyedLocks`` gives one ``asyncio.Lock`` per key (a bare cache, a worktree path, a tree, a target branch),
forgotten again when nobody holds or waits for it.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Sequence
from contextlib import asynccontextmanager
from typing import Generic, TypeVar

__all__ = ["KeyedLocks", "ReviewPool", "default_concurrency"]

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


def default_concurrency() -> int:
    """The host's cores (at least one): how many reviews run at once when the configuration does not say."""
    return max(1, os.cpu_count() or 1)


class ReviewPool:
    """At most ``limit`` jobs in flight."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("a review pool needs a limit of at least 1")
        self.limit = limit
        self.in_flight = 0
        self.peak = 0

    async def _one(self, slots: asyncio.Semaphore, job: Callable[[], Awaitable[T]]) -> T:
        async with slots:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            try:
                return await job()
            finally:
                self.in_flight -= 1

    async def run(self, jobs: Sequence[Callable[[], Awaitable[T]]]) -> list[T]:
        """Every job's result, in order; cancelling ``run`` cancels the jobs still running."""
        if not jobs:
            return []
        slots = asyncio.Semaphore(self.limit)  # one per run: a pool may outlive the event loop it first ran in
        outcomes = await asyncio.gather(*(self._one(slots, job) for job in jobs), return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        return [outcome for outcome in outcomes if not isinstance(outcome, BaseException)]


class KeyedLocks(Generic[K]):
    """One lock per key, dropped when unused."""

    def __init__(self) -> None:
        self._locks: dict[K, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: K) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)
