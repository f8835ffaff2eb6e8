"""Where the dispatcher's CPU work runs: a worker process or a thread, never the event loop.

    offload = Offload("process")
    verdict = await offload.run(triage_rules, issue, config, duplicates)   # a pure, picklable function
    scores = await offload.in_thread(find_duplicates, number, mine, others, rule)
    data = await offload.decode_json(content)                              # a large forge answer

The daemon's event loop serves ``/health``, the webhook intake and the watchdog pings; triage is pure
Python (tokenizing, stemming, matching), which holds the GIL. In a thread it still takes the GIL from the
loop for up to 5 ms at a time (``sys.getswitchinterval``), in a worker process it does not take it at all
(docs/BENCHMARKS.md, "Dispatch under load", measures both). ``dispatcher.triage_workers`` in
``configs/triage.yaml`` chooses; ``process`` is the default.

- ``run`` sends a job to the process pool (``process``) or the thread (``thread``). The pools are shared
  by every dispatcher of the process, one worker each (the dispatcher handles one issue at a time), and
  created on first use; the worker process is started with ``spawn`` (a fork of a process running threads
  may inherit a held lock). A worker that dies (killed, out of memory) breaks the pool: it is replaced
  and the job runs again; if the new one dies too, the job runs in the thread, and a warning says so.
- ``in_thread`` always uses the thread: for work whose inputs are large and already in this process
  (comparing an issue with every open one's cached bag), where shipping them to a process costs more
  than it saves.
- ``decode_json`` decodes a forge answer in the worker process (``json.loads`` is C code that holds the
  GIL from start to end: in a thread it would block the loop just the same); the loop only unpickles the
  result, several times faster. With ``thread`` workers there is nothing to gain and the forge client
  decodes in place (``json_decoder`` is None).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import multiprocessing
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Literal, TypeVar

__all__ = ["Offload", "WorkerKind", "shutdown_pools"]

log = logging.getLogger(__name__)

T = TypeVar("T")
WorkerKind = Literal["process", "thread"]

_pools: dict[WorkerKind, Executor] = {}


def _pool(kind: WorkerKind) -> Executor:
    pool = _pools.get(kind)
    if pool is None:
        if kind == "process":
            pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        else:
            pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="uniwizard-triage")
        _pools[kind] = pool
    return pool


def _replace_broken(pool: Executor) -> None:
    if _pools.get("process") is pool:
        del _pools["process"]
    pool.shutdown(wait=False, cancel_futures=True)


def shutdown_pools() -> None:
    """Stop the shared pools (they are started again on the next job)."""
    for kind in list(_pools):
        _pools.pop(kind).shutdown(wait=True, cancel_futures=True)


class Offload:
    """Runs the dispatcher's pure functions in the ``kind`` of worker (see the module docstring)."""

    def __init__(self, kind: WorkerKind = "process") -> None:
        self.kind = kind

    async def run(self, fn: Callable[..., T], /, *args: Any) -> T:
        """``fn(*args)`` in a worker; ``fn`` and its arguments must pickle when the worker is a process."""
        job = functools.partial(fn, *args)
        if self.kind == "thread":
            return await self.in_thread(fn, *args)
        loop = asyncio.get_running_loop()
        for _ in range(2):
            pool = _pool("process")
            try:
                return await loop.run_in_executor(pool, job)
            except BrokenProcessPool:
                log.warning("the triage worker process died; starting another one")
                _replace_broken(pool)
        log.warning("the triage worker process died twice in a row: this job runs in a thread")
        return await self.in_thread(fn, *args)

    async def in_thread(self, fn: Callable[..., T], /, *args: Any) -> T:
        """``fn(*args)`` in the shared triage thread."""
        return await asyncio.get_running_loop().run_in_executor(_pool("thread"), functools.partial(fn, *args))

    @property
    def json_decoder(self) -> Callable[[bytes], Awaitable[Any]] | None:
        """What the forge client decodes large answers with: the worker process, or None (in place)."""
        return self.decode_json if self.kind == "process" else None

    async def decode_json(self, content: bytes) -> Any:
        """``json.loads(content)`` in the worker process (``ValueError`` when it is not JSON)."""
        return await self.run(json.loads, content)
