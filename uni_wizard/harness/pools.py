"""Thread pools for blocking tools: one per house, so no house and no stuck call can take them all.

A synchronous tool (the file tools, a facts probe) runs in its house's pool, never in asyncio's
shared default executor. When a call times out the Harness sets its cancel event (tools check it
between chunks, ``tools/cancel.py``); if the thread still has not returned — stuck in the kernel —
the pool counts it as *stuck* and starts a fresh executor beside it, so the house keeps its full
capacity. Stuck threads end when their call does. Once a house has ``max_stuck`` of them, its next
blocking calls fail at once with ``ToolExecutionError`` instead of queueing behind them.

    pools = ToolPools(threads=4, max_stuck=16)
    result = await pools.run("ezra", fn, timeout=5.0)
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from ..errors import ToolExecutionError
from ..tools import cancel

__all__ = ["HousePool", "ToolPools"]

T = TypeVar("T")


class HousePool:
    """The blocking-tool threads of one house."""

    def __init__(self, house: str, *, threads: int, max_stuck: int) -> None:
        self.house, self.threads, self.max_stuck = house, threads, max_stuck
        self._lock = threading.Lock()
        self._executor = self._new_executor()
        self._stuck = 0

    def _new_executor(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix=f"uniwizard-{self.house}")

    @property
    def stuck(self) -> int:
        return self._stuck

    async def run(self, fn: Callable[[], T], *, timeout: float, not_run: Callable[[], None] | None = None) -> T:
        """``fn()`` in a thread of this house, cancelled after ``timeout`` s (``TimeoutError``); ``not_run`` is
        called when ``fn`` never started (the call was refused or cancelled while queued)."""
        with self._lock:
            if self._stuck >= self.max_stuck:
                if not_run is not None:
                    not_run()
                raise ToolExecutionError(
                    f"{self.house} has {self._stuck} tool calls stuck in the kernel (they timed out and never "
                    "returned); its blocking tools are refused until they end or the daemon restarts"
                )
            executor = self._executor
        cancelled = threading.Event()
        deadline = time.monotonic() + timeout
        context = contextvars.copy_context()

        def call() -> T:
            with cancel.scope(deadline=deadline, cancelled=cancelled):
                return fn()

        future = executor.submit(context.run, call)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), timeout)
        except (TimeoutError, asyncio.CancelledError):
            cancelled.set()
            if future.cancelled():
                if not_run is not None:
                    not_run()
            else:
                self._abandon(future)
            raise

    def _abandon(self, future: Future[Any]) -> None:
        """A call that timed out: if its thread is still busy, count it stuck and give the house fresh threads."""
        if future.done():
            return
        with self._lock:
            if future.done():
                return
            self._stuck += 1
            old, self._executor = self._executor, self._new_executor()
        old.shutdown(wait=False)  # its idle threads leave; the stuck one leaves when its call ends
        future.add_done_callback(self._unstuck)

    def _unstuck(self, _: Future[Any]) -> None:
        with self._lock:
            self._stuck -= 1

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


class ToolPools:
    """One ``HousePool`` per house, created on first use."""

    def __init__(self, *, threads: int = 4, max_stuck: int = 16) -> None:
        self.threads, self.max_stuck = threads, max_stuck
        self._pools: dict[str, HousePool] = {}
        self._lock = threading.Lock()

    def pool(self, house: str) -> HousePool:
        with self._lock:
            pool = self._pools.get(house)
            if pool is None:
                pool = self._pools[house] = HousePool(house, threads=self.threads, max_stuck=self.max_stuck)
            return pool

    async def run(
        self, house: str, fn: Callable[[], T], *, timeout: float, not_run: Callable[[], None] | None = None
    ) -> T:
        return await self.pool(house).run(fn, timeout=timeout, not_run=not_run)

    def stuck(self) -> dict[str, int]:
        """Stuck calls per house (for metrics and /ready)."""
        with self._lock:
            return {house: pool.stuck for house, pool in self._pools.items()}

    def close(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close()
